package signin_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licgate/licgate/signin"
	"github.com/licgate/licgate/signin/signintest"
)

var key = []byte("0123456789abcdef0123456789abcdef")

func validConfig() signin.Config {
	return signin.Config{Issuer: "https://idp.example.com", ClientID: "c", ClientSecret: "s",
		RedirectURL: "https://gw.example.com/signin/callback", CookieKey: key, AllowedDomains: []string{"example.com"}}
}

func TestConfigValidate(t *testing.T) {
	rows := []struct {
		name  string
		tweak func(*signin.Config)
		bad   string // substring of the error; "" = valid
	}{
		{"valid", func(*signin.Config) {}, ""},
		{"secret file", func(c *signin.Config) { c.ClientSecret, c.ClientSecretFile = "", "/x" }, ""},
		{"entra", func(c *signin.Config) { c.Preset = signin.PresetEntra }, ""},
		{"preset", func(c *signin.Config) { c.Preset = "okta" }, "preset"},
		{"issuer", func(c *signin.Config) { c.Issuer = "idp.example.com" }, "issuer"},
		{"client", func(c *signin.Config) { c.ClientID = "" }, "client_id"},
		{"secret", func(c *signin.Config) { c.ClientSecret = "" }, "client_secret_file"},
		{"redirect", func(c *signin.Config) { c.RedirectURL = "/signin/callback" }, "redirect_url"},
		{"short key", func(c *signin.Config) { c.CookieKey = key[:31] }, "cookie key"},
		{"domain", func(c *signin.Config) { c.AllowedDomains = []string{"a@example.com"} }, "allowed_domains"},
		// Issue 23: no default that lets every account of the provider in,
		// and no claim the account's owner chooses.
		{"no domains", func(c *signin.Config) { c.AllowedDomains = nil }, "allowed_domains: missing"},
		{"wildcard domain", func(c *signin.Config) { c.AllowedDomains = []string{"*"} }, "allowed_domains"},
		{"generic username", func(c *signin.Config) { c.UserClaim = "preferred_username" }, "user_claim"},
		{"google sub", func(c *signin.Config) { c.Preset, c.UserClaim = signin.PresetGoogle, "sub" }, "user_claim"},
		{"entra email", func(c *signin.Config) { c.Preset, c.UserClaim = signin.PresetEntra, "email" }, "user_claim"},
		{"entra upn", func(c *signin.Config) { c.Preset, c.UserClaim = signin.PresetEntra, "upn" }, ""},
		{"origin", func(c *signin.Config) { c.ReturnOrigins = []string{"https://portal.lan/x"} }, "return origins"},
		{"reauth off", func(c *signin.Config) { c.Reauth = -1 }, ""},
		{"reauth 1m", func(c *signin.Config) { c.Reauth = time.Minute }, ""},
		{"reauth 2d", func(c *signin.Config) { c.Reauth = 48 * time.Hour }, "reauth"},
		{"reauth 1ms", func(c *signin.Config) { c.Reauth = time.Millisecond }, "reauth"},
	}
	for _, r := range rows {
		c := validConfig()
		r.tweak(&c)
		err := c.Validate()
		if r.bad == "" && err != nil || r.bad != "" && (!errors.Is(err, signin.ErrConfig) || !strings.Contains(err.Error(), r.bad)) {
			t.Errorf("%s: Validate() = %v, want %q", r.name, err, r.bad)
		}
		if _, nerr := signin.New(c, nil); (nerr == nil) != (err == nil) {
			t.Errorf("%s: New disagrees with Validate: %v", r.name, nerr)
		}
	}
}

// opRig is a provider against the real OP without a browser: enough for
// everything up to the code exchange.
type opRig struct {
	op  *signintest.OP
	p   *signin.Provider
	now time.Time
	mu  sync.Mutex
}

func newOPRig(t *testing.T, tweak func(*signin.Config)) *opRig {
	r := &opRig{now: time.Now()}
	redirect := "http://127.0.0.1:1/signin/callback"
	r.op = signintest.StartOP(t, signintest.OPConfig{RedirectURIs: []string{redirect}})
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	cfg := signin.Config{Issuer: r.op.Issuer, ClientID: r.op.ClientID, ClientSecret: r.op.ClientSecret,
		RedirectURL: redirect, GroupsClaim: "groups", CookieKey: key, HTTPClient: &http.Client{Transport: tr},
		AllowedDomains: []string{"example.com"},
		ReturnOrigins:  []string{"https://portal.lan"},
		Now:            func() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.now }}
	if tweak != nil {
		tweak(&cfg)
	}
	var err error
	if r.p, err = signin.New(cfg, nil); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *opRig) advance(d time.Duration) {
	r.mu.Lock()
	r.now = r.now.Add(d)
	r.mu.Unlock()
}

// begin runs BeginLogin and returns the cookie it set and the state it sent.
func (r *opRig) begin(t *testing.T, purpose, returnTo string) (*http.Cookie, *url.URL) {
	t.Helper()
	w := httptest.NewRecorder()
	if err := r.p.BeginLogin(w, httptest.NewRequest("GET", "/signin/begin", nil), purpose, returnTo); err != nil {
		t.Fatal(err)
	}
	cs := w.Result().Cookies()
	if w.Code != http.StatusSeeOther || len(cs) != 1 {
		t.Fatalf("BeginLogin: %d, cookies %v", w.Code, cs)
	}
	loc, err := url.Parse(w.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return cs[0], loc
}

func callback(r *opRig, c *http.Cookie, q url.Values) (signin.Result, error) {
	req := httptest.NewRequest("GET", "/signin/callback?"+q.Encode(), nil)
	if c != nil {
		req.AddCookie(c)
	}
	return r.p.Callback(httptest.NewRecorder(), req)
}

// TestBeginLogin: the redirect carries state, nonce, an S256 PKCE challenge,
// the scopes (groups added for the groups claim) and the redirect URL; the
// cookie is HttpOnly, Secure, SameSite=Lax, scoped to the callback path and
// lives as long as a sign-in may take.
func TestBeginLogin(t *testing.T) {
	leakCheck(t)
	r := newOPRig(t, nil)
	c, loc := r.begin(t, "enroll", "/welcome")
	q := loc.Query()
	if !strings.HasPrefix(loc.String(), r.op.Issuer+"/auth?") || q.Get("client_id") != r.op.ClientID ||
		q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 ||
		q.Get("scope") != "openid email profile groups" || q.Get("redirect_uri") != "http://127.0.0.1:1/signin/callback" ||
		len(q.Get("state")) != 43 || len(q.Get("nonce")) != 43 {
		t.Errorf("redirect = %s", loc)
	}
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/signin/callback" || c.MaxAge != 600 ||
		!strings.HasPrefix(c.Name, "licgate_signin_") || strings.Contains(c.Value, q.Get("code_challenge")) {
		t.Errorf("cookie = %+v", c)
	}
	// Two sign-ins in two tabs get two cookies.
	c2, loc2 := r.begin(t, "enroll", "/")
	if c2.Name == c.Name || loc2.Query().Get("state") == q.Get("state") || loc2.Query().Get("nonce") == q.Get("nonce") {
		t.Errorf("second sign-in reuses cookie %s or state", c2.Name)
	}
}

// TestBeginLoginAsksForFreshAuthentication: enrol and unlock send max_age
// (signin.reauth, default 5m), the entra preset also prompt=login (which
// Entra documents); other purposes (admin) and Reauth < 0 send neither.
func TestBeginLoginAsksForFreshAuthentication(t *testing.T) {
	leakCheck(t)
	rows := []struct {
		preset, purpose string
		reauth          time.Duration
		maxAge, prompt  string
	}{
		{"", "unlock", 0, "300", ""},
		{"", "enroll", 0, "300", ""},
		{"", "admin", 0, "", ""},
		{"", "unlock", 90 * time.Second, "90", ""},
		{"", "unlock", -1, "", ""},
		{signin.PresetGoogle, "unlock", 0, "300", ""},
		{signin.PresetEntra, "unlock", 0, "300", "login"},
		{signin.PresetEntra, "admin", 0, "", ""},
	}
	r := newOPRig(t, nil)
	for _, row := range rows {
		p, err := signin.New(signin.Config{Preset: row.preset, Issuer: r.op.Issuer, ClientID: "c", ClientSecret: "s",
			RedirectURL: "https://gw.example.com/signin/callback", CookieKey: key, AllowedDomains: []string{"example.com"},
			Reauth: row.reauth}, nil)
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		if err := p.BeginLogin(w, httptest.NewRequest("GET", "/signin/begin", nil), row.purpose, "/"); err != nil {
			t.Fatal(err)
		}
		q, _ := url.Parse(w.Header().Get("Location"))
		if got := q.Query(); got.Get("max_age") != row.maxAge || got.Get("prompt") != row.prompt {
			t.Errorf("%s %s reauth %s: max_age=%q prompt=%q, want %q %q", row.preset, row.purpose, row.reauth,
				got.Get("max_age"), got.Get("prompt"), row.maxAge, row.prompt)
		}
	}
}

func TestReturnTo(t *testing.T) {
	leakCheck(t)
	r := newOPRig(t, nil)
	rows := []struct {
		to string
		ok bool
	}{
		{"/portal?x=1", true}, {"", true}, {"https://portal.lan/unlock", true}, {"HTTPS://PORTAL.LAN/", true},
		{"//evil.example/", false}, {"/\\evil.example", false}, {"https://evil.example/", false},
		{"https://portal.lan.evil.example/", false}, {"portal", false}, {"javascript:alert(1)", false},
		{"/a/b-c_d.e~f/?q=1&r=%2Fx#frag", true}, {"/caf%C3%A9", true}, {"https://portal.lan", true},
		// Issue 23: browsers drop tab, CR and LF and read "\" as "/".
		{"/%09/evil.example/", false}, {"/\t/evil.example/", false}, {"/%0a/evil.example", false}, {"/%0D/evil.example", false},
		{"/\n/evil.example", false}, {"/\r/evil.example", false}, {"/\\evil", false}, {"/%5Cevil.example", false},
		{"/%5C%5Cevil.example", false}, {"//evil", false}, {"/%2F%2Fevil", false}, {"/%2f/evil", false}, {"/%252F%252Fevil", false},
		{"/%25252F/evil", false}, {"/.//evil", false}, {"/./evil", false}, {"/../evil", false}, {"/%2e%2e/evil", false},
		{"/x/%2e%2e//evil", false}, {"/ /evil", false}, {"/%20/evil", false}, {"/\x00evil", false}, {"/%00evil", false},
		{"/\u00a0/evil", false}, {"/%zz", false}, {"https:evil.example", false}, {"https:/evil.example", false},
		{"https://evil.example\\@portal.lan/", false}, {"https://user@portal.lan/", false}, {"https://portal.lan//evil.example", false},
		{"https://portal.lan/%09/evil.example", false}, {"https://portal.lan\t/x", false}, {"\t/evil.example", false},
		{"data:text/html,x", false}, {"http://portal.lan/", false}, {"/" + strings.Repeat("a", 2000), false},
	}
	for _, row := range rows {
		err := r.p.BeginLogin(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), "unlock", row.to)
		if row.ok != (err == nil) || !row.ok && !errors.Is(err, signin.ErrBadReturnTo) {
			t.Errorf("returnTo %q: %v", row.to, err)
		}
	}
}

// TestCallbackRefusals covers the refusals a browser cannot easily produce:
// a cookie with a bad signature or signed with another key, a sign-in that
// took too long, an iss parameter naming another issuer, no code, the
// provider's error redirect, and a code the provider does not know.
func TestCallbackRefusals(t *testing.T) {
	leakCheck(t)
	r := newOPRig(t, nil)
	other := newOPRig(t, func(c *signin.Config) { c.CookieKey = []byte("another key, also thirty-two byte") })
	state := func(loc *url.URL) string { return loc.Query().Get("state") }

	c, loc := r.begin(t, "unlock", "/")
	forged := *c
	forged.Value = strings.Replace(c.Value, ".", ".A", 1)
	if _, err := callback(r, &forged, url.Values{"state": {state(loc)}, "code": {"x"}}); !errors.Is(err, signin.ErrStateMismatch) {
		t.Errorf("bad signature: %v", err)
	}
	oc, oloc := other.begin(t, "unlock", "/")
	if _, err := callback(r, oc, url.Values{"state": {state(oloc)}, "code": {"x"}}); !errors.Is(err, signin.ErrStateMismatch) {
		t.Errorf("other key: %v", err)
	}

	c, loc = r.begin(t, "unlock", "/")
	r.advance(10*time.Minute + time.Second)
	if res, err := callback(r, c, url.Values{"state": {state(loc)}, "code": {"x"}}); !errors.Is(err, signin.ErrLoginExpired) || res.Purpose != "unlock" {
		t.Errorf("expired: %v (purpose %q)", err, res.Purpose)
	}

	c, loc = r.begin(t, "unlock", "/")
	if _, err := callback(r, c, url.Values{"state": {state(loc)}, "code": {"x"}, "iss": {"https://evil.example"}}); !errors.Is(err, signin.ErrIssuerMismatch) {
		t.Errorf("iss: %v", err)
	}
	c, loc = r.begin(t, "unlock", "/")
	if _, err := callback(r, c, url.Values{"state": {state(loc)}}); !errors.Is(err, signin.ErrBadCallback) {
		t.Errorf("no code: %v", err)
	}
	c, loc = r.begin(t, "unlock", "/")
	_, err := callback(r, c, url.Values{"state": {state(loc)}, "error": {"temporarily_unavailable"}, "error_description": {"try later"}})
	var pe *signin.ProviderError
	if !errors.As(err, &pe) || pe.Code != "temporarily_unavailable" || pe.Description != "try later" ||
		!errors.Is(err, signin.ErrProviderRefused) || errors.Is(err, signin.ErrAccessDenied) {
		t.Errorf("provider error: %v", err)
	}
	c, loc = r.begin(t, "unlock", "/")
	if _, err := callback(r, c, url.Values{"state": {state(loc)}, "code": {"made-up"}, "iss": {r.op.Issuer}}); !errors.Is(err, signin.ErrCodeExchange) {
		t.Errorf("unknown code: %v", err)
	}
	if _, err := callback(r, nil, url.Values{"code": {"x"}}); !errors.Is(err, signin.ErrStateMismatch) {
		t.Errorf("no state: %v", err)
	}
}

// TestDiscoveryErrors: an issuer whose discovery document names another
// issuer is a config error, not an outage; an unreadable secret file too;
// a failed discovery is retried only after RetryAfter.
func TestDiscoveryErrors(t *testing.T) {
	leakCheck(t)
	r := newOPRig(t, func(c *signin.Config) { c.Issuer += "/" })
	if err := r.p.Check(t.Context()); !errors.Is(err, signin.ErrConfig) || !strings.Contains(err.Error(), "issuer") {
		t.Errorf("issuer with a trailing slash: %v", err)
	}
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	r = newOPRig(t, func(c *signin.Config) { c.ClientSecret, c.ClientSecretFile = "", secret })
	if err := r.p.Check(t.Context()); !errors.Is(err, signin.ErrConfig) || !strings.Contains(err.Error(), "client_secret_file") {
		t.Errorf("missing secret file: %v", err)
	}
	os.WriteFile(secret, []byte(r.op.ClientSecret+"\n"), 0o600)
	if err := r.p.Check(t.Context()); err == nil {
		t.Errorf("retried before RetryAfter")
	}
	r.advance(5 * time.Second)
	if err := r.p.Check(t.Context()); err != nil {
		t.Errorf("after RetryAfter with the file in place: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := r.p.Check(ctx); err != nil {
		t.Errorf("discovery is cached, yet Check with a cancelled context failed: %v", err)
	}
}

func TestMemorySessions(t *testing.T) {
	now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	m := &signin.MemorySessions{MaxAge: 24 * time.Hour, Now: func() time.Time { return now }}
	ctx := t.Context()
	groups := []string{"eng"}
	m.Record(ctx, signin.SignIn{User: "Alice@Example.com", Groups: groups, At: now.Add(-2 * time.Hour)})
	groups[0] = "changed"
	m.Record(ctx, signin.SignIn{User: "alice@example.com", At: now.Add(-5 * time.Hour)}) // older: ignored
	rows := []struct {
		user   string
		window time.Duration
		want   bool
	}{
		{"alice@example.com", 12 * time.Hour, true},
		{"ALICE@example.com", 3 * time.Hour, true},
		{"alice@example.com", time.Hour, false},
		{"bob@example.com", 12 * time.Hour, false},
	}
	for _, r := range rows {
		if got, err := signin.SignedInWithin(ctx, m, r.user, r.window, now); got != r.want || err != nil {
			t.Errorf("SignedInWithin(%s, %s) = %v, %v", r.user, r.window, got, err)
		}
	}
	if s, ok, _ := m.Last(ctx, "alice@example.com"); !ok || s.Groups[0] != "eng" || !s.At.Equal(now.Add(-2*time.Hour)) {
		t.Errorf("Last = %+v, %v", s, ok)
	}
	now = now.Add(23 * time.Hour)
	if _, ok, _ := m.Last(ctx, "alice@example.com"); ok {
		t.Error("sign-in older than MaxAge still held")
	}
	m.Record(ctx, signin.SignIn{User: "bob", At: now})
	m.Forget(ctx, "BOB")
	if _, ok, _ := m.Last(ctx, "bob"); ok {
		t.Error("Forget kept bob")
	}
}

func TestMessageAndStatus(t *testing.T) {
	rows := []struct {
		err    error
		status int
		says   string
	}{
		{signin.ErrProviderUnavailable, 503, "cannot be reached"},
		{&signin.ProviderError{Code: "access_denied"}, 403, "cancelled"},
		{&signin.ProviderError{Code: "server_error"}, 403, "refused the request"},
		{signin.ErrDomainNotAllowed, 403, "domain"},
		{signin.ErrReplayed, 400, "not valid any more"},
		{signin.ErrNonceMismatch, 502, "Sign-in failed"},
		{signin.ErrConfig, 500, "Sign-in failed"},
	}
	for _, r := range rows {
		if signin.Status(r.err) != r.status || !strings.Contains(signin.Message(r.err), r.says) {
			t.Errorf("%v: %d %q", r.err, signin.Status(r.err), signin.Message(r.err))
		}
	}
	w := httptest.NewRecorder()
	signin.WriteError(w, &signin.ProviderError{Code: "access_denied", Description: "<script>"})
	if w.Code != 403 || strings.Contains(w.Body.String(), "<script>") || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("WriteError: %d %s", w.Code, w.Body)
	}
}

// TestSameAddress: the whole address decides, ASCII letters fold, nothing
// else does (a Kelvin sign is not a k).
func TestSameAddress(t *testing.T) {
	rows := []struct {
		a, b string
		same bool
	}{
		{"alice@example.com", "alice@example.com", true},
		{"Alice@Example.COM", "alice@example.com", true},
		{"alice@gmail.com", "alice@example.com", false},
		{"ALICE@evil.example", "alice@example.com", false},
		{"alice@example.org", "alice@example.com", false},
		{"alice", "alice", false},
		{"", "", false},
		{"alice@exampl\u212a.com", "alice@example.com", false},
		{"alice@example.com ", "alice@example.com", true},
		{"alice+x@example.com", "alice@example.com", false},
		{"al.ice@example.com", "alice@example.com", false},
	}
	for _, r := range rows {
		if got := signin.SameAddress(r.a, r.b); got != r.same {
			t.Errorf("SameAddress(%q, %q) = %v", r.a, r.b, got)
		}
	}
}

// TestDeviceTokens: a token names its user and device until it expires;
// changed, truncated, re-signed with another key or expired, it is refused.
func TestDeviceTokens(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := signin.DeviceTokens{Key: key, Now: func() time.Time { return now }}
	tok := d.Make("alice", "laptop")
	if u, dev, err := d.Parse(tok); err != nil || u != "alice" || dev != "laptop" {
		t.Fatalf("Parse = %q, %q, %v", u, dev, err)
	}
	other := signin.DeviceTokens{Key: []byte("another key, also thirty-two byte"), Now: d.Now}
	enc, sig, _ := strings.Cut(tok, ".")
	forged := signin.DeviceTokens{Key: key, Now: d.Now}.Make("alice", "pc")
	fenc, _, _ := strings.Cut(forged, ".")
	for name, bad := range map[string]string{
		"other key": other.Make("alice", "laptop"), "swapped payload": fenc + "." + sig, "truncated": tok[:len(tok)-2],
		"no signature": enc, "empty": "", "garbage": "a.b",
	} {
		if _, _, err := d.Parse(bad); !errors.Is(err, signin.ErrDeviceToken) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	later := signin.DeviceTokens{Key: key, Now: func() time.Time { return now.Add(time.Hour + time.Second) }}
	if _, _, err := later.Parse(tok); !errors.Is(err, signin.ErrDeviceToken) {
		t.Errorf("after an hour: err = %v", err)
	}
}
