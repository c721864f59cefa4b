package adminauth_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/adminapi/adminauth"
	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/certs"
	"github.com/licgate/licgate/session"
	"github.com/licgate/licgate/signin"
	"github.com/licgate/licgate/signin/signintest"
	"github.com/licgate/licgate/store"
)

// backend is the gateway as the console sees it: one live session of
// bob/laptop, the users below, and a policy whose groups stand for the
// directory sync's (erin is in licgate-admins only there). Calls the
// console does not make panic (the embedded nil interface).
type backend struct {
	adminapi.Backend
	eng *acl.Engine

	mu      sync.Mutex
	revoked []string
	actors  []string
}

func newBackend(t *testing.T) *backend {
	pol, err := acl.Parse("policy.yaml", []byte(`
groups:
  licgate-admins: [erin]
  helpdesk-dir: [henry]
rules:
  - {name: all, action: allow, who: ["*"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	eng, _, err := acl.Compile(pol, []string{"codemeter"})
	if err != nil {
		t.Fatal(err)
	}
	return &backend{eng: eng}
}

func (b *backend) Engine() *acl.Engine { return b.eng }

func (b *backend) Users(context.Context) ([]store.User, error) {
	return []store.User{
		{Name: "erin", Email: "erin@example.com"},
		{Name: "henry", Email: "henry@example.com"},
		{Name: "dora", Email: "dora@example.com", Disabled: true},
		{Name: "bob", Email: "bob@example.com"},
	}, nil
}

func (b *backend) Sessions() []session.SessionInfo {
	return []session.SessionInfo{{ID: 1, Service: "codemeter", Proto: "tcp", User: "bob", Device: "laptop", Start: time.Now()}}
}

func (b *backend) Services() []adminapi.ServiceView {
	return []adminapi.ServiceView{{Name: "codemeter", Port: 22350, Protocols: []string{"tcp"}, Upstream: "192.168.1.10:22350", Sessions: 1}}
}

func (b *backend) Denials(context.Context, time.Time, time.Time, int) ([]store.AuditDenialRow, error) {
	return nil, nil
}
func (b *backend) Peers() ([]adminapi.PeerInfo, error) { return nil, nil }
func (b *backend) DDNS() adminapi.DDNSView             { return adminapi.DDNSView{} }
func (b *backend) Certs() []certs.View                 { return nil }

func (b *backend) RevokeDevice(ctx context.Context, user, name string) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.revoked = append(b.revoked, user+"/"+name)
	b.actors = append(b.actors, audit.ActorOf(ctx))
	return 1, nil
}

func (b *backend) revokes() (revoked, actors []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.revoked...), append([]string(nil), b.actors...)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

const token = "lan-token-0123456789-abcdef"

// rig is the LAN listener's handler on loopback, in front of a real
// OpenID provider.
type rig struct {
	srv   *httptest.Server
	op    *signintest.OP
	b     *backend
	clock *clock
}

func newRig(t *testing.T) *rig {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	r := &rig{b: newBackend(t), clock: &clock{t: time.Now()}}
	var h http.Handler
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { h.ServeHTTP(w, req) }))
	t.Cleanup(r.srv.Close)
	r.op = signintest.StartOP(t, signintest.OPConfig{
		RedirectURIs: []string{r.srv.URL + adminauth.PathCallback},
		Users: []signintest.User{
			{Login: "alice", Email: "alice@example.com", Groups: []string{"engineers", "licgate-admins"}},
			{Login: "harry", Email: "harry@example.com", Groups: []string{"helpdesk"}},
			{Login: "erin", Email: "erin@example.com", GroupsOverage: true},
			{Login: "ollie", Email: "ollie@example.com", GroupsOverage: true},
			{Login: "dora", Email: "dora@example.com", Groups: []string{"licgate-admins"}},
			{Login: "mallory", Email: "mallory@example.com", Groups: []string{"engineers"}},
		},
	})
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	log := slog.New(slog.NewTextHandler(logWriter{t}, nil))
	cfg := &signin.AdminConfig{
		Config: signin.Config{Issuer: r.op.Issuer, ClientID: r.op.ClientID, ClientSecret: r.op.ClientSecret,
			RedirectURL: r.srv.URL + adminauth.PathCallback, GroupsClaim: "groups", AllowedDomains: []string{"example.com"},
			CookieKey: []byte("0123456789abcdef0123456789abcdef"), CookieName: "licgate_admin_signin",
			HTTPClient: &http.Client{Transport: tr, Timeout: 10 * time.Second}},
		AdminGroups:    []string{"licgate-admins"},
		ReadonlyGroups: []string{"helpdesk", "helpdesk-dir"},
		Session:        time.Hour,
	}
	var err error
	h, err = adminauth.LAN(r.b, token, cfg, log, adminapi.Handler(r.b, adminapi.Options{}), adminauth.Options{Now: r.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fetch runs fetch() in the console's page and returns the status.
func fetch(t *testing.T, ctx context.Context, method, path string, headers map[string]string) int {
	t.Helper()
	hdr := "{"
	for k, v := range headers {
		hdr += `"` + k + `": "` + v + `",`
	}
	hdr += "}"
	var status int
	js := `fetch("` + path + `", {method: "` + method + `", headers: ` + hdr + `}).then(r => r.status)`
	if err := chromedp.Run(ctx, chromedp.Evaluate(js, &status, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	})); err != nil {
		t.Fatalf("fetch %s %s: %v", method, path, err)
	}
	return status
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	var s string
	if err := chromedp.Run(ctx, chromedp.WaitVisible(sel), chromedp.Text(sel, &s)); err != nil {
		t.Fatalf("waiting for %s: %v", sel, err)
	}
	return s
}

// signIn opens the console with a fresh browser state, is sent to the
// provider, signs in as login there and comes back.
func (r *rig) signIn(t *testing.T, ctx context.Context, login string) {
	t.Helper()
	if err := chromedp.Run(ctx, network.ClearBrowserCookies(), chromedp.Navigate(r.srv.URL+"/"), signintest.Login(login)); err != nil {
		t.Fatalf("sign in as %s: %v", login, err)
	}
}

// TestAdminSignInConsole: admins sign in at the LAN listener with the
// office's provider in Chromium. alice (groups claim licgate-admins) gets
// the console and revokes a device; harry (helpdesk) sees the console but
// his revoke is refused with 403; a change without the CSRF token is
// refused; the session ends after signin.admin.session; erin, whose token
// has an Entra groups overage, is an admin through the directory's group;
// ollie (overage, no directory group), a disabled user and one outside
// every group are refused; and the bearer token still works for scripts.
func TestAdminSignInConsole(t *testing.T) {
	r := newRig(t)
	ctx := signintest.Browser(t)
	if err := chromedp.Run(ctx, chromedp.Navigate(r.srv.URL+"/"), chromedp.Evaluate(`1`, nil)); err != nil {
		t.Fatal(err)
	}

	// alice: admin.
	r.signIn(t, ctx, "alice")
	if got := text(t, ctx, "#who"); got != "alice@example.com (admin)" {
		t.Errorf("alice: header says %q", got)
	}
	if got := text(t, ctx, "#sessions tbody tr td"); got != "bob" {
		t.Errorf("alice: first session cell %q", got)
	}
	if err := chromedp.Run(ctx, chromedp.Evaluate(`window.confirm = () => true`, nil),
		chromedp.Click(`#sessions tbody button`), chromedp.WaitVisible(`//p[@id="status"][contains(., "revoked")]`, chromedp.BySearch)); err != nil {
		t.Fatalf("alice: revoke: %v", err)
	}
	if rv, actors := r.b.revokes(); strings.Join(rv, ",") != "bob/laptop" || actors[0] != "signin alice@example.com" {
		t.Fatalf("alice: revoked %v by %v", rv, actors)
	}
	// The session cookie is HttpOnly and SameSite=Strict (not Secure: this
	// test server is plain HTTP; Secure is set on TLS).
	var cookies []*network.Cookie
	if err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cookies, err = network.GetCookies().Do(ctx)
		return err
	})); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range cookies {
		if c.Name == "licgate_admin" {
			found = true
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict {
				t.Errorf("session cookie: HttpOnly %v SameSite %v", c.HTTPOnly, c.SameSite)
			}
		}
	}
	if !found {
		t.Errorf("no session cookie among %d", len(cookies))
	}
	// CSRF: the same page, the same cookie, no token: refused.
	if s := fetch(t, ctx, "POST", "/api/v1/devices/bob/laptop/revoke", nil); s != http.StatusForbidden {
		t.Errorf("revoke without the CSRF token: %d, want 403", s)
	}
	if s := fetch(t, ctx, "POST", "/api/v1/devices/bob/laptop/revoke", map[string]string{"X-CSRF-Token": "forged"}); s != http.StatusForbidden {
		t.Errorf("revoke with a wrong CSRF token: %d, want 403", s)
	}
	if rv, _ := r.b.revokes(); len(rv) != 1 {
		t.Fatalf("refused requests revoked: %v", rv)
	}
	// Expiry: the session (1h) ends; the console's calls get 401.
	if s := fetch(t, ctx, "GET", "/api/v1/sessions", nil); s != http.StatusOK {
		t.Errorf("sessions while signed in: %d", s)
	}
	r.clock.advance(time.Hour + time.Second)
	if s := fetch(t, ctx, "GET", "/api/v1/sessions", nil); s != http.StatusUnauthorized {
		t.Errorf("sessions after expiry: %d, want 401", s)
	}
	if s := fetch(t, ctx, "GET", adminauth.PathSession, nil); s != http.StatusUnauthorized {
		t.Errorf("session view after expiry: %d, want 401", s)
	}

	// harry: read-only (helpdesk). He sees the console; his revoke is 403.
	r.signIn(t, ctx, "harry")
	if got := text(t, ctx, "#who"); got != "harry@example.com (readonly)" {
		t.Errorf("harry: header says %q", got)
	}
	if got := text(t, ctx, "#sessions tbody tr td"); got != "bob" {
		t.Errorf("harry: first session cell %q", got)
	}
	if err := chromedp.Run(ctx, chromedp.Evaluate(`window.confirm = () => true`, nil),
		chromedp.Click(`#sessions tbody button`), chromedp.WaitVisible(`//p[@id="status"][contains(., "readonly role")]`, chromedp.BySearch)); err != nil {
		t.Fatalf("harry: revoke refusal not shown: %v", err)
	}
	if s := fetch(t, ctx, "POST", "/api/v1/users/bob/disable", nil); s != http.StatusForbidden {
		t.Errorf("harry: disable: %d, want 403", s)
	}
	if rv, _ := r.b.revokes(); len(rv) != 1 {
		t.Fatalf("harry revoked: %v", rv)
	}

	// erin: groups overage in the token; the directory's licgate-admins
	// group makes her an admin.
	r.signIn(t, ctx, "erin")
	if got := text(t, ctx, "#who"); got != "erin@example.com (admin)" {
		t.Errorf("erin: header says %q", got)
	}
	// ollie: overage and no directory group: refused, and told why.
	r.signIn(t, ctx, "ollie")
	if got := text(t, ctx, "#signin-message"); !strings.Contains(got, "too many groups") {
		t.Errorf("ollie: page says %q", got)
	}
	// dora: in the admin group by her token, but her licgate user is disabled.
	r.signIn(t, ctx, "dora")
	if got := text(t, ctx, "#signin-message"); !strings.Contains(got, "no admin role") {
		t.Errorf("dora: page says %q", got)
	}
	// mallory: in no configured group.
	r.signIn(t, ctx, "mallory")
	if got := text(t, ctx, "#signin-message"); !strings.Contains(got, "no admin role") {
		t.Errorf("mallory: page says %q", got)
	}
	if err := chromedp.Run(ctx, chromedp.Navigate(r.srv.URL+adminauth.PathSession)); err != nil {
		t.Fatal(err)
	}
	if s := fetch(t, ctx, "GET", "/api/v1/sessions", nil); s != http.StatusUnauthorized {
		t.Errorf("mallory: sessions: %d, want 401", s)
	}

	// The token, for scripts, as before.
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	do := func(method, path, tok string) int {
		req, _ := http.NewRequest(method, r.srv.URL+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := do("GET", "/api/v1/sessions", token); s != http.StatusOK {
		t.Errorf("token GET: %d", s)
	}
	if s := do("POST", "/api/v1/devices/bob/laptop/revoke", token); s != http.StatusOK {
		t.Errorf("token revoke: %d", s)
	}
	if s := do("GET", "/api/v1/sessions", "wrong-token-0123456789"); s != http.StatusUnauthorized {
		t.Errorf("wrong token: %d, want 401", s)
	}
	if s := do("GET", "/api/v1/sessions", ""); s != http.StatusUnauthorized {
		t.Errorf("no credentials: %d, want 401", s)
	}
	if rv, actors := r.b.revokes(); len(rv) != 2 || !strings.HasPrefix(actors[1], "lan-token from ") {
		t.Errorf("token revoke: %v by %v", rv, actors)
	}
}
