package signin_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc/oidctest"

	"github.com/licgate/licgate/signin"
)

// TestIDTokenChecks puts a token endpoint of the test's own beside
// go-oidc's discovery-and-keys test server, to produce what a real provider
// never sends: ID tokens with the wrong nonce, audience, issuer, expiry or
// key, none at all, and failures of the endpoint. It also checks that the
// token request carries the PKCE verifier of the challenge sent.
func TestIDTokenChecks(t *testing.T) {
	leakCheck(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keys := &oidctest.Server{
		PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: "k1", Algorithm: "ES256"}},
		Algorithms: []string{"ES256"},
	}
	var (
		mu        sync.Mutex
		reply     func(w http.ResponseWriter)
		challenge string
		pkceOK    bool
	)
	mux := http.NewServeMux()
	mux.Handle("/", keys)
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		mu.Lock()
		pkceOK = base64.RawURLEncoding.EncodeToString(sum[:]) == challenge
		mu.Unlock()
		reply(w)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	keys.SetIssuer(srv.URL)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	p, err := signin.New(signin.Config{Issuer: srv.URL, ClientID: "licgate", ClientSecret: "s",
		RedirectURL: "https://gw.example.com/signin/callback", GroupsClaim: "groups", AllowedDomains: []string{"example.com"},
		CookieKey: key32(), HTTPClient: &http.Client{Transport: tr}}, nil)
	if err != nil {
		t.Fatal(err)
	}

	now := time.Now().Unix()
	good := func(nonce string) map[string]any {
		return map[string]any{"iss": srv.URL, "aud": "licgate", "sub": "u1", "iat": now, "exp": now + 300,
			"auth_time": now - 10, "nonce": nonce, "email": "alice@example.com", "email_verified": true, "groups": []string{"eng", "ops"}}
	}
	with := func(k string, v any) func(string) map[string]any {
		return func(n string) map[string]any { c := good(n); c[k] = v; return c }
	}
	rows := []struct {
		name   string
		claims func(nonce string) map[string]any
		signer *ecdsa.PrivateKey
		status int  // token endpoint status; 0 = 200
		noID   bool // leave id_token out
		want   error
		groups string
		// purpose of the sign-in; "" is enroll (max_age 5m, the default)
		purpose string
		at      int64 // Identity.At wanted (unix); 0: auth_time of good
	}{
		{name: "good", claims: good, groups: "eng,ops"},
		{name: "one group as a string", claims: with("groups", "eng"), groups: "eng"},
		{name: "groups overage", claims: func(n string) map[string]any {
			c := good(n)
			delete(c, "groups")
			c["_claim_names"] = map[string]any{"groups": "src1"}
			c["_claim_sources"] = map[string]any{"src1": map[string]any{"endpoint": "https://graph.example/getMemberObjects"}}
			return c
		}},
		{name: "hasgroups", claims: func(n string) map[string]any {
			c := good(n)
			delete(c, "groups")
			c["hasgroups"] = true
			return c
		}},
		{name: "wrong nonce", claims: with("nonce", "not-the-one"), want: signin.ErrNonceMismatch},
		{name: "no nonce", claims: with("nonce", ""), want: signin.ErrNonceMismatch},
		{name: "wrong audience", claims: with("aud", "someone-else"), want: signin.ErrIDToken},
		{name: "wrong issuer", claims: with("iss", "https://evil.example"), want: signin.ErrIDToken},
		{name: "expired", claims: with("exp", now-60), want: signin.ErrIDToken},
		{name: "unknown key", claims: good, signer: stranger, want: signin.ErrIDToken},
		{name: "no id_token", claims: good, noID: true, want: signin.ErrIDToken},
		{name: "email_verified string false", claims: with("email_verified", "false"), want: signin.ErrEmailNotVerified},
		// Issue 23: only a verified address in an allowed domain binds.
		{name: "email_verified absent", claims: func(n string) map[string]any { c := good(n); delete(c, "email_verified"); return c }, want: signin.ErrEmailNotVerified},
		{name: "email_verified false", claims: with("email_verified", false), want: signin.ErrEmailNotVerified},
		{name: "email_verified 1", claims: with("email_verified", 1), want: signin.ErrEmailNotVerified},
		{name: "gmail", claims: with("email", "alice@gmail.com"), want: signin.ErrDomainNotAllowed},
		{name: "evil upper case", claims: with("email", "ALICE@evil.example"), want: signin.ErrDomainNotAllowed},
		{name: "sister domain", claims: with("email", "alice@example.org"), want: signin.ErrDomainNotAllowed},
		{name: "subdomain", claims: with("email", "alice@mail.example.com"), want: signin.ErrDomainNotAllowed},
		{name: "kelvin sign domain", claims: with("email", "alice@exampl\u212a.com"), want: signin.ErrDomainNotAllowed},
		{name: "no local part", claims: with("email", "@example.com"), want: signin.ErrNoUserClaim},
		{name: "not an address", claims: with("email", "alice"), want: signin.ErrNoUserClaim},
		{name: "upper case", claims: with("email", "Alice@EXAMPLE.com"), groups: "eng,ops"},
		{name: "user claim not a string", claims: with("email", 42), want: signin.ErrNoUserClaim},
		// A provider session reused without the password: auth_time is
		// required for enrol and unlock, and must be within max_age (5m,
		// the default) plus a minute of skew.
		{name: "no auth_time", claims: func(n string) map[string]any { c := good(n); delete(c, "auth_time"); return c }, want: signin.ErrNoAuthTime},
		{name: "no auth_time, unlock", purpose: "unlock", claims: func(n string) map[string]any { c := good(n); delete(c, "auth_time"); return c }, want: signin.ErrNoAuthTime},
		{name: "auth_time a string", claims: with("auth_time", "1700000000"), want: signin.ErrNoAuthTime},
		{name: "auth_time zero", claims: with("auth_time", 0), want: signin.ErrNoAuthTime},
		{name: "auth_time an hour old", claims: with("auth_time", now-3600), want: signin.ErrReauthRequired},
		{name: "auth_time an hour old, unlock", purpose: "unlock", claims: with("auth_time", now-3600), want: signin.ErrReauthRequired},
		{name: "auth_time 7 minutes old", claims: with("auth_time", now-420), want: signin.ErrReauthRequired},
		{name: "auth_time 5m30s old (skew)", claims: with("auth_time", now-330), groups: "eng,ops", at: now - 330},
		{name: "auth_time an hour ahead", claims: with("auth_time", now+3600), want: signin.ErrReauthRequired},
		{name: "auth_time 20s ahead (skew)", claims: with("auth_time", now+20), groups: "eng,ops", at: -1},
		// Admin sign-in asks for no max_age: a token without auth_time is
		// taken, signed in now; an old auth_time is when they signed in.
		{name: "admin, no auth_time", purpose: "admin", claims: func(n string) map[string]any { c := good(n); delete(c, "auth_time"); return c }, groups: "eng,ops", at: -1},
		{name: "admin, old auth_time", purpose: "admin", claims: with("auth_time", now-3600), groups: "eng,ops", at: now - 3600},
		{name: "invalid_grant", claims: good, status: 400, want: signin.ErrCodeExchange},
		{name: "provider error 502", claims: good, status: 502, want: signin.ErrProviderUnavailable},
	}
	for _, row := range rows {
		w := httptest.NewRecorder()
		purpose := row.purpose
		if purpose == "" {
			purpose = "enroll"
		}
		if err := p.BeginLogin(w, httptest.NewRequest("GET", "/", nil), purpose, "/"); err != nil {
			t.Fatal(err)
		}
		loc, _ := url.Parse(w.Header().Get("Location"))
		if got, want := loc.Query().Get("max_age"), map[bool]string{true: "", false: "300"}[purpose == "admin"]; got != want {
			t.Errorf("%s: max_age=%q, want %q", row.name, got, want)
		}
		nonce := loc.Query().Get("nonce")
		mu.Lock()
		challenge = loc.Query().Get("code_challenge")
		mu.Unlock()
		signer := key
		if row.signer != nil {
			signer = row.signer
		}
		claims, _ := json.Marshal(row.claims(nonce))
		reply = func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			if row.status != 0 {
				w.WriteHeader(row.status)
				w.Write([]byte(`{"error":"invalid_grant"}`))
				return
			}
			body := map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 300}
			if !row.noID {
				body["id_token"] = oidctest.SignIDToken(signer, "k1", "ES256", string(claims))
			}
			json.NewEncoder(w).Encode(body)
		}
		req := httptest.NewRequest("GET", "/signin/callback?"+url.Values{"state": {loc.Query().Get("state")}, "code": {"c"}}.Encode(), nil)
		req.AddCookie(w.Result().Cookies()[0])
		res, err := p.Callback(httptest.NewRecorder(), req)
		if row.want == nil && err != nil || row.want != nil && !errors.Is(err, row.want) {
			t.Errorf("%s: err = %v, want %v", row.name, err, row.want)
			continue
		}
		if err == nil && res.Identity.Address != "alice@example.com" {
			t.Errorf("%s: Address %q", row.name, res.Identity.Address)
		}
		// Identity.At is when the person authenticated (auth_time), not
		// when the callback completed; -1: about now.
		switch at := res.Identity.At; {
		case err != nil:
		case row.at == -1 && time.Since(at).Abs() > 5*time.Second,
			row.at == 0 && !at.Equal(time.Unix(now-10, 0)),
			row.at > 0 && !at.Equal(time.Unix(row.at, 0)):
			t.Errorf("%s: Identity.At = %s, want auth_time %d (-1: now)", row.name, at, row.at)
		}
		if got := strings.Join(res.Identity.Groups, ","); err == nil && got != row.groups {
			t.Errorf("%s: groups %q, want %q", row.name, got, row.groups)
		}
		if (row.name == "groups overage" || row.name == "hasgroups") != res.Identity.GroupsOverage {
			t.Errorf("%s: GroupsOverage = %v", row.name, res.Identity.GroupsOverage)
		}
		mu.Lock()
		if !pkceOK {
			t.Errorf("%s: token request without the PKCE verifier of the challenge", row.name)
		}
		mu.Unlock()
	}
}

func key32() []byte { return []byte("0123456789abcdef0123456789abcdef") }
