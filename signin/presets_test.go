package signin

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The presets checked against what Microsoft and Google publish
// (testdata/SOURCES.md names each file's source), without the cloud.

type discoveryDoc struct {
	Issuer           string   `json:"issuer"`
	Scopes           []string `json:"scopes_supported"`
	Claims           []string `json:"claims_supported"`
	AuthMethods      []string `json:"token_endpoint_auth_methods_supported"`
	ResponseTypes    []string `json:"response_types_supported"`
	CodeChallenge    []string `json:"code_challenge_methods_supported"`
	UserInfoEndpoint string   `json:"userinfo_endpoint"`
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// jwtPayload decodes a JWT's payload (the signature is Microsoft's test
// key's: not checked here, go-oidc's verification is tested elsewhere).
func jwtPayload(t *testing.T, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(strings.TrimSpace(string(data)), ".")
	if len(parts) != 3 {
		t.Fatalf("%s: %d parts", name, len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	claims := map[string]any{}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return claims
}

func presetProvider(t *testing.T, cfg Config) *Provider {
	t.Helper()
	cfg.ClientID, cfg.ClientSecret = "licgate", "s"
	cfg.RedirectURL = "https://office.example.com/signin/callback"
	cfg.CookieKey = []byte("0123456789abcdef0123456789abcdef")
	p, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPresetsMatchPublishedDiscovery: every scope a preset asks for is one
// the provider lists, the claims it binds by are ones the provider sends,
// the code flow with S256 and client_secret_basic are offered, and the
// issuer is what docs/signin.md tells admins to write.
func TestPresetsMatchPublishedDiscovery(t *testing.T) {
	var entra, google discoveryDoc
	readJSON(t, "entra-organizations-openid-configuration.json", &entra)
	readJSON(t, "google-openid-configuration.json", &google)
	sample := jwtPayload(t, "entra-v2-id-token-sample.jwt")

	for _, row := range []struct {
		name   string
		cfg    Config
		doc    discoveryDoc
		claims []string // the claims the preset binds by
	}{
		{"entra", Config{Preset: PresetEntra, Issuer: "https://login.microsoftonline.com/" + sample["tid"].(string) + "/v2.0"},
			entra, []string{"preferred_username"}},
		{"google", Config{Preset: PresetGoogle, Issuer: "https://accounts.google.com"}, google, []string{"email", "email_verified"}},
	} {
		row.cfg.AllowedDomains = []string{"example.com"}
		p := presetProvider(t, row.cfg)
		for _, s := range p.cfg.scopes() {
			if !slices.Contains(row.doc.Scopes, s) {
				t.Errorf("%s: preset asks for scope %q; the provider supports %v", row.name, s, row.doc.Scopes)
			}
		}
		for _, c := range row.claims {
			if !slices.Contains(row.doc.Claims, c) {
				t.Errorf("%s: preset binds by claim %q; the provider lists %v", row.name, c, row.doc.Claims)
			}
		}
		if !slices.Contains(row.doc.Claims, p.cfg.userClaim()) {
			t.Errorf("%s: user claim %q is not among the provider's claims", row.name, p.cfg.userClaim())
		}
		if !slices.Contains(row.doc.ResponseTypes, "code") || !slices.Contains(row.doc.AuthMethods, "client_secret_basic") {
			t.Errorf("%s: code flow or client_secret_basic missing: %v %v", row.name, row.doc.ResponseTypes, row.doc.AuthMethods)
		}
		if row.doc.UserInfoEndpoint == "" {
			t.Errorf("%s: no userinfo endpoint (claims missing from the ID token are looked up there)", row.name)
		}
	}
	// Google says it does PKCE S256; Entra supports it without listing it.
	if !slices.Contains(google.CodeChallenge, "S256") {
		t.Errorf("google: no S256 in %v", google.CodeChallenge)
	}
	// Entra's issuer is per tenant: the template with the token's tid is
	// exactly the iss its tokens carry (docs/signin.md: the tenant ID, not
	// "organizations" or a domain name, because licgate compares exactly).
	if got := strings.ReplaceAll(entra.Issuer, "{tenantid}", sample["tid"].(string)); got != sample["iss"] {
		t.Errorf("entra issuer template gives %q; the sample token's iss is %q", got, sample["iss"])
	}
	// Sign-ins to unlock and enrol need auth_time (max_age): Entra lists
	// it; Google's document does not (docs/signin.md says what to do).
	if !slices.Contains(entra.Claims, "auth_time") || slices.Contains(google.Claims, "auth_time") {
		t.Errorf("auth_time listed: entra %v, google %v; docs/signin.md says entra yes, google no",
			slices.Contains(entra.Claims, "auth_time"), slices.Contains(google.Claims, "auth_time"))
	}
	if google.Issuer != "https://accounts.google.com" {
		t.Errorf("google issuer %q", google.Issuer)
	}
	// Entra's email is listed but unverified: the entra preset never binds by it.
	cfg := Config{Preset: PresetEntra, Issuer: "https://login.microsoftonline.com/x/v2.0", UserClaim: "email", AllowedDomains: []string{"example.com"},
		ClientID: "c", ClientSecret: "s", RedirectURL: "https://o.example/cb", CookieKey: make([]byte, 32)}
	if err := cfg.Validate(); !errors.Is(err, ErrConfig) {
		t.Errorf("entra with user_claim email: %v, want ErrConfig", err)
	}
	// Google lists no groups claim: the google preset asks for none.
	gp := presetProvider(t, Config{Preset: PresetGoogle, Issuer: "https://accounts.google.com", AllowedDomains: []string{"example.com"}})
	if gp.cfg.groupsClaim() != "" || slices.Contains(google.Claims, "groups") {
		t.Errorf("google: groups claim %q", gp.cfg.groupsClaim())
	}
}

// TestPresetsMapPublishedTokens runs the presets' claim mapping on the
// providers' own sample tokens: who the account is, its groups, and what
// an Entra groups overage (more than 200 groups) turns into.
func TestPresetsMapPublishedTokens(t *testing.T) {
	entraSample := jwtPayload(t, "entra-v2-id-token-sample.jwt")
	var googleSample, overageClaims map[string]any
	readJSON(t, "google-id-token-payload.json", &googleSample)
	readJSON(t, "entra-groups-overage-claims.json", &overageClaims)
	now := time.Unix(1536274711, 0)
	entraIss := entraSample["iss"].(string)
	with := func(base map[string]any, kv ...any) map[string]any {
		c := map[string]any{}
		for k, v := range base {
			c[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return c
	}
	overage := with(entraSample, "_claim_names", overageClaims["_claim_names"], "_claim_sources", overageClaims["_claim_sources"])
	groups := with(entraSample, "groups", []any{"2b3c0a9e-0f5e-4a3c-9f53-3b6e6c4f1d10", "licgate-admins"})

	for _, row := range []struct {
		name     string
		cfg      Config
		claims   map[string]any
		want     error
		address  string
		groups   []string
		overflow bool
	}{
		// Microsoft's sample: preferred_username is the UPN, mixed case.
		{name: "entra sample", cfg: Config{Preset: PresetEntra, Issuer: entraIss, AllowedDomains: []string{"microsoft.com"}},
			claims: entraSample, address: "abeli@microsoft.com"},
		{name: "entra sample, other domain", cfg: Config{Preset: PresetEntra, Issuer: entraIss, AllowedDomains: []string{"example.com"}},
			claims: entraSample, want: ErrDomainNotAllowed},
		{name: "entra upn claim absent", cfg: Config{Preset: PresetEntra, Issuer: entraIss, UserClaim: "upn", AllowedDomains: []string{"microsoft.com"}},
			claims: entraSample, want: ErrNoUserClaim},
		// Entra's unverified email never binds, even in an allowed domain.
		{name: "entra email is not the account", cfg: Config{Preset: PresetEntra, Issuer: entraIss, AllowedDomains: []string{"microsoft.com"}},
			claims: with(entraSample, "preferred_username", "alice_gmail.com#EXT#@tenant.onmicrosoft.com", "email", "abeli@microsoft.com"),
			want:   ErrDomainNotAllowed},
		{name: "entra groups", cfg: Config{Preset: PresetEntra, Issuer: entraIss, AllowedDomains: []string{"microsoft.com"}},
			claims: groups, address: "abeli@microsoft.com", groups: []string{"2b3c0a9e-0f5e-4a3c-9f53-3b6e6c4f1d10", "licgate-admins"}},
		{name: "entra groups overage", cfg: Config{Preset: PresetEntra, Issuer: entraIss, AllowedDomains: []string{"microsoft.com"}},
			claims: overage, address: "abeli@microsoft.com", overflow: true},
		// A token with both (never sent by Entra) still counts as overage:
		// the list cannot be trusted to be whole.
		{name: "entra overage beside a list", cfg: Config{Preset: PresetEntra, Issuer: entraIss, AllowedDomains: []string{"microsoft.com"}},
			claims: with(overage, "groups", []any{"a"}), address: "abeli@microsoft.com", overflow: true},
		{name: "entra hasgroups", cfg: Config{Preset: PresetEntra, Issuer: entraIss, AllowedDomains: []string{"microsoft.com"}},
			claims: with(entraSample, "hasgroups", true), address: "abeli@microsoft.com", overflow: true},
		// Google's sample sends email_verified as the string "true".
		{name: "google sample", cfg: Config{Preset: PresetGoogle, Issuer: "https://accounts.google.com", AllowedDomains: []string{"example.com"}},
			claims: googleSample, address: "jsmith@example.com"},
		{name: "google hd is not the domain check", cfg: Config{Preset: PresetGoogle, Issuer: "https://accounts.google.com", AllowedDomains: []string{"example.com"}},
			claims: with(googleSample, "email", "jsmith@gmail.com"), want: ErrDomainNotAllowed},
		{name: "google unverified", cfg: Config{Preset: PresetGoogle, Issuer: "https://accounts.google.com", AllowedDomains: []string{"example.com"}},
			claims: with(googleSample, "email_verified", "false"), want: ErrEmailNotVerified},
		{name: "google no email_verified", cfg: Config{Preset: PresetGoogle, Issuer: "https://accounts.google.com", AllowedDomains: []string{"example.com"}},
			claims: with(googleSample, "email_verified", nil), want: ErrEmailNotVerified},
	} {
		p := presetProvider(t, row.cfg)
		id, err := p.identity(row.claims["iss"].(string), row.claims["sub"].(string), row.claims, now)
		if row.want != nil {
			if !errors.Is(err, row.want) {
				t.Errorf("%s: err %v, want %v", row.name, err, row.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", row.name, err)
			continue
		}
		if id.Address != row.address || !slices.Equal(id.Groups, row.groups) || id.GroupsOverage != row.overflow {
			t.Errorf("%s: address %q groups %q overage %v; want %q %q %v", row.name, id.Address, id.Groups, id.GroupsOverage,
				row.address, row.groups, row.overflow)
		}
		if row.overflow && id.Groups != nil {
			t.Errorf("%s: overage must leave Groups nil (unknown), got %q", row.name, id.Groups)
		}
	}
}
