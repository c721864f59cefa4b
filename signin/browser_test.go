package signin_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/licgate/licgate/signin"
	"github.com/licgate/licgate/signin/signintest"
)

// outcome is one call of the test relying party's callback.
type outcome struct {
	url    string // the callback URL as the browser sent it
	cookie string // its Cookie header
	res    signin.Result
	err    error
}

// rig is a relying party on loopback in front of a real provider.
type rig struct {
	t        *testing.T
	op       *signintest.OP
	p        *signin.Provider
	rp       *httptest.Server
	sessions *signin.MemorySessions
	client   *http.Client

	mu       sync.Mutex
	capture  bool // next callback is only recorded, not processed
	logs     strings.Builder
	outcomes chan outcome
}

type slogWriter struct {
	t *testing.T
	r *rig // its log copy, or nil
}

func (w slogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	if w.r != nil {
		w.r.mu.Lock()
		w.r.logs.Write(p)
		w.r.mu.Unlock()
	}
	return len(p), nil
}

// logged is what the provider logged so far.
func (r *rig) logged() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs.String()
}

var (
	alice   = signintest.User{Login: "alice", Email: "Alice@Example.com", Name: "Alice", Groups: []string{"engineers", "licgate-admins"}}
	mallory = signintest.User{Login: "mallory", Email: "mallory@other.test", Groups: []string{"engineers"}}
	nobody  = signintest.User{Login: "nobody", Name: "No Email"}
	no      = false
	unver   = signintest.User{Login: "unverified", Email: "unverified@example.com", EmailVerified: &no}
	silent  = signintest.User{Login: "silent", Email: "silent@example.com", NoEmailVerified: true}
	// Entra-like: the UPN in preferred_username is who they are.
	carol = signintest.User{Login: "carol", PreferredUsername: "carol@example.com", Email: "carol.private@gmail.test", EmailVerified: &no, Groups: []string{"architects"}}
	dave  = signintest.User{Login: "dave", PreferredUsername: "dave@other.test", Email: "dave@example.com"}
	// Entra-like with more than 200 groups: _claim_names instead of groups.
	erin = signintest.User{Login: "erin", PreferredUsername: "erin@example.com", GroupsOverage: true}
)

// leakCheck goes first in every test that starts servers: it runs after
// all their cleanups.
func leakCheck(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

func newRig(t *testing.T, tweak func(*signin.Config)) *rig {
	return newRigOP(t, signintest.OPConfig{}, tweak)
}

// newRigOP is newRig with the provider configured as opc says (its
// redirect URIs and users are the rig's).
func newRigOP(t *testing.T, opc signintest.OPConfig, tweak func(*signin.Config)) *rig {
	r := &rig{t: t, outcomes: make(chan outcome, 4), sessions: &signin.MemorySessions{MaxAge: 24 * time.Hour}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /begin", func(w http.ResponseWriter, req *http.Request) {
		if err := r.p.BeginLogin(w, req, req.FormValue("purpose"), req.FormValue("return")); err != nil {
			signin.WriteError(w, err)
		}
	})
	mux.HandleFunc("GET /callback", r.callback)
	mux.HandleFunc("GET /portal", func(w http.ResponseWriter, req *http.Request) {
		fmt.Fprint(w, `<p id="portal">portal</p>`)
	})
	r.rp = httptest.NewServer(mux)
	t.Cleanup(r.rp.Close)
	opc.RedirectURIs = []string{r.rp.URL + "/callback"}
	opc.Users = []signintest.User{alice, mallory, nobody, unver, silent, carol, dave, erin}
	r.op = signintest.StartOP(t, opc)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	r.client = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	cfg := signin.Config{
		Issuer:         r.op.Issuer,
		ClientID:       r.op.ClientID,
		ClientSecret:   r.op.ClientSecret,
		RedirectURL:    r.rp.URL + "/callback",
		GroupsClaim:    "groups",
		AllowedDomains: []string{"example.com"},
		CookieKey:      []byte("0123456789abcdef0123456789abcdef"),
		HTTPClient:     r.client,
		RetryAfter:     time.Millisecond,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	var err error
	r.p, err = signin.New(cfg, slog.New(slog.NewTextHandler(slogWriter{t, r}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) callback(w http.ResponseWriter, req *http.Request) {
	o := outcome{url: r.rp.URL + req.URL.RequestURI(), cookie: req.Header.Get("Cookie")}
	r.mu.Lock()
	capture := r.capture
	r.capture = false
	r.mu.Unlock()
	if capture {
		fmt.Fprint(w, `<p id="captured">captured</p>`)
		r.outcomes <- o
		return
	}
	o.res, o.err = r.p.Callback(w, req)
	if o.err != nil {
		signin.WriteError(w, o.err)
	} else {
		id := o.res.Identity
		r.sessions.Record(req.Context(), signin.SignIn{User: id.User, Email: id.Email, Groups: id.Groups, Purpose: o.res.Purpose, At: id.At})
		fmt.Fprintf(w, `<p id="signed-in">%s %s %s %s</p><a id="next" href="%s">continue</a>`,
			html.EscapeString(id.User), html.EscapeString(strings.Join(id.Groups, ",")),
			html.EscapeString(o.res.Purpose), html.EscapeString(o.res.ReturnTo), html.EscapeString(o.res.ReturnTo))
	}
	r.outcomes <- o
}

func (r *rig) next() outcome {
	r.t.Helper()
	select {
	case o := <-r.outcomes:
		return o
	case <-time.After(time.Minute):
		r.t.Fatal("no callback within a minute")
		return outcome{}
	}
}

func (r *rig) setCapture() {
	r.mu.Lock()
	r.capture = true
	r.mu.Unlock()
}

// page returns the text of the element sel once it is visible.
func page(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	var s string
	if err := chromedp.Run(ctx, chromedp.WaitVisible(sel), chromedp.Text(sel, &s)); err != nil {
		t.Fatalf("waiting for %s: %v", sel, err)
	}
	return s
}

func begin(r *rig, purpose, returnTo string) string {
	return r.rp.URL + "/begin?" + url.Values{"purpose": {purpose}, "return": {returnTo}}.Encode()
}

// TestSignInInBrowser: alice signs in at the real provider in Chromium and
// comes back with her user claim, lower-cased email and groups; the sign-in
// is recorded for the unlock rule. Then mallory, from a domain that is not
// allowed, a user without an email claim and one whose email is not
// verified are each refused with their own error, and a user who cancels at
// the provider gets access_denied.
func TestSignInInBrowser(t *testing.T) {
	leakCheck(t)
	r := newRig(t, nil)
	ctx := signintest.Browser(t)
	if err := chromedp.Run(ctx, chromedp.Navigate(begin(r, "unlock", "/portal")), signintest.Login("alice")); err != nil {
		t.Fatal(err)
	}
	o := r.next()
	if o.err != nil {
		t.Fatalf("alice refused: %v", o.err)
	}
	id := o.res.Identity
	if id.User != "Alice@Example.com" || id.Email != "alice@example.com" || id.Address != "alice@example.com" || id.Subject != "alice" || id.Name != "Alice" ||
		id.Issuer != r.op.Issuer || strings.Join(id.Groups, ",") != "engineers,licgate-admins" {
		t.Errorf("identity = %+v", id)
	}
	if o.res.Purpose != "unlock" || o.res.ReturnTo != "/portal" {
		t.Errorf("purpose, returnTo = %q, %q", o.res.Purpose, o.res.ReturnTo)
	}
	if got := page(t, ctx, "#signed-in"); got != "Alice@Example.com engineers,licgate-admins unlock /portal" {
		t.Errorf("page says %q", got)
	}
	if ok, err := signin.SignedInWithin(t.Context(), r.sessions, "alice@example.com", 12*time.Hour, time.Now()); !ok || err != nil {
		t.Errorf("SignedInWithin after sign-in = %v, %v", ok, err)
	}

	refusals := []struct {
		login string
		want  error
		says  string
	}{
		{"mallory", signin.ErrDomainNotAllowed, "domain is not allowed"},
		{"nobody", signin.ErrNoUserClaim, "did not say who you are"},
		{"unverified", signin.ErrEmailNotVerified, "not verified"},
		// Issue 23: a provider that does not say it verified the address.
		{"silent", signin.ErrEmailNotVerified, "not verified"},
	}
	for _, c := range refusals {
		if err := chromedp.Run(ctx, network.ClearBrowserCookies(), chromedp.Navigate(begin(r, "enroll", "/")), signintest.Login(c.login)); err != nil {
			t.Fatal(err)
		}
		o := r.next()
		if !errors.Is(o.err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.login, o.err, c.want)
		}
		if o.res.Purpose != "enroll" {
			t.Errorf("%s: purpose %q lost on refusal", c.login, o.res.Purpose)
		}
		if got := page(t, ctx, "#signin-error"); !strings.Contains(got, c.says) {
			t.Errorf("%s: page says %q, want %q", c.login, got, c.says)
		}
		if ok, _ := signin.SignedInWithin(t.Context(), r.sessions, c.login, time.Hour, time.Now()); ok {
			t.Errorf("%s recorded as signed in", c.login)
		}
	}

	if err := chromedp.Run(ctx, network.ClearBrowserCookies(), chromedp.Navigate(begin(r, "enroll", "/")), signintest.Cancel()); err != nil {
		t.Fatal(err)
	}
	o = r.next()
	var pe *signin.ProviderError
	if !errors.Is(o.err, signin.ErrAccessDenied) || !errors.Is(o.err, signin.ErrProviderRefused) || !errors.As(o.err, &pe) || pe.Code != "access_denied" {
		t.Errorf("cancel: err = %v, want access_denied", o.err)
	}
	if got := page(t, ctx, "#signin-error"); !strings.Contains(got, "cancelled") {
		t.Errorf("cancel: page says %q", got)
	}
}

// TestTamperedAndReplayedCallback: a callback whose state was changed is
// refused and the genuine one still works; replaying it afterwards, in the
// same browser (cookie gone) or by someone who copied the URL and the
// cookie, is refused.
func TestTamperedAndReplayedCallback(t *testing.T) {
	leakCheck(t)
	r := newRig(t, nil)
	ctx := signintest.Browser(t)
	r.setCapture()
	if err := chromedp.Run(ctx, chromedp.Navigate(begin(r, "unlock", "/portal")), signintest.Login("alice")); err != nil {
		t.Fatal(err)
	}
	genuine := r.next()
	page(t, ctx, "#captured")
	u, _ := url.Parse(genuine.url)
	q := u.Query()
	state := q.Get("state")
	for _, bad := range []string{state[:len(state)-1] + flip(state[len(state)-1]), "x" + state[1:], ""} {
		q.Set("state", bad)
		u.RawQuery = q.Encode()
		if err := chromedp.Run(ctx, chromedp.Navigate(u.String())); err != nil {
			t.Fatal(err)
		}
		if o := r.next(); !errors.Is(o.err, signin.ErrStateMismatch) {
			t.Errorf("state %q: err = %v, want ErrStateMismatch", bad, o.err)
		}
		if got := page(t, ctx, "#signin-error"); !strings.Contains(got, "not valid") {
			t.Errorf("tampered: page says %q", got)
		}
	}
	if err := chromedp.Run(ctx, chromedp.Navigate(genuine.url)); err != nil {
		t.Fatal(err)
	}
	if o := r.next(); o.err != nil || o.res.Identity.Email != "alice@example.com" {
		t.Fatalf("genuine callback after tampered ones: %+v, %v", o.res, o.err)
	}
	// The same browser again: its cookie was cleared.
	if err := chromedp.Run(ctx, chromedp.Navigate(genuine.url)); err != nil {
		t.Fatal(err)
	}
	if o := r.next(); !errors.Is(o.err, signin.ErrStateMismatch) {
		t.Errorf("browser replay: err = %v, want ErrStateMismatch", o.err)
	}
	// Someone holding a copy of the URL and the cookie.
	req, _ := http.NewRequest("GET", genuine.url, nil)
	req.Header.Set("Cookie", genuine.cookie)
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if o := r.next(); !errors.Is(o.err, signin.ErrReplayed) {
		t.Errorf("copied replay: err = %v, want ErrReplayed", o.err)
	}
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "not valid any more") {
		t.Errorf("copied replay: %d %s", resp.StatusCode, body)
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// TestProviderDown: with the provider stopped before anyone signed in, the
// sign-in page says the service cannot be reached (503); with the provider
// stopped between login and callback, the code exchange fails with the
// same message. When the provider comes back on the same issuer (with new
// signing keys), the next sign-in works without restarting the relying
// party: discovery is retried, and the unknown key is fetched.
func TestProviderDown(t *testing.T) {
	leakCheck(t)
	r := newRig(t, nil)
	ctx := signintest.Browser(t)
	r.op.Stop()
	if err := chromedp.Run(ctx, chromedp.Navigate(begin(r, "unlock", "/"))); err != nil {
		t.Fatal(err)
	}
	if got := page(t, ctx, "#signin-error"); !strings.Contains(got, "cannot be reached") {
		t.Errorf("page says %q", got)
	}
	w := httptest.NewRecorder()
	err := r.p.BeginLogin(w, httptest.NewRequest("GET", "/begin", nil), "unlock", "/")
	if !errors.Is(err, signin.ErrProviderUnavailable) || signin.Status(err) != http.StatusServiceUnavailable {
		t.Errorf("BeginLogin with provider down: %v (status %d)", err, signin.Status(err))
	}
	if w.Code != http.StatusOK || len(w.Result().Cookies()) != 0 {
		t.Errorf("BeginLogin wrote to the response on error: %d %v", w.Code, w.Result().Cookies())
	}

	r.op.Restart(t)
	if err := chromedp.Run(ctx, chromedp.Navigate(begin(r, "unlock", "/")), signintest.Login("alice")); err != nil {
		t.Fatal(err)
	}
	if o := r.next(); o.err != nil {
		t.Fatalf("after the provider came up: %v", o.err)
	}
	r.setCapture()
	if err := chromedp.Run(ctx, network.ClearBrowserCookies(), chromedp.Navigate(begin(r, "unlock", "/")), signintest.Login("alice")); err != nil {
		t.Fatal(err)
	}
	cb := r.next()
	r.op.Stop()
	if err := chromedp.Run(ctx, chromedp.Navigate(cb.url)); err != nil {
		t.Fatal(err)
	}
	if o := r.next(); !errors.Is(o.err, signin.ErrProviderUnavailable) || o.res.Purpose != "unlock" {
		t.Errorf("callback with provider down: err = %v, purpose %q; want ErrProviderUnavailable, unlock", o.err, o.res.Purpose)
	}
	if got := page(t, ctx, "#signin-error"); !strings.Contains(got, "cannot be reached") {
		t.Errorf("callback page says %q", got)
	}

	r.op.Restart(t) // new signing keys: the cached key set must refetch
	if err := chromedp.Run(ctx, network.ClearBrowserCookies(), chromedp.Navigate(begin(r, "unlock", "/")), signintest.Login("alice")); err != nil {
		t.Fatal(err)
	}
	if o := r.next(); o.err != nil || o.res.Identity.Email != "alice@example.com" {
		t.Errorf("after the provider came back with new keys: %+v, %v", o.res.Identity, o.err)
	}
}

// TestEntraStyleClaims: with the entra preset the user is preferred_username
// (the UPN) and the domain check uses it, not the unverified email claim:
// carol (UPN in example.com, private unverified email) is let in, dave (UPN
// elsewhere, email in example.com) is refused.
func TestEntraStyleClaims(t *testing.T) {
	leakCheck(t)
	r := newRig(t, func(c *signin.Config) {
		c.Preset, c.GroupsClaim = signin.PresetEntra, ""
		// Entra has no groups scope; this provider releases groups only with it.
		c.Scopes = []string{"openid", "email", "profile", "groups"}
	})
	ctx := signintest.Browser(t)
	if err := chromedp.Run(ctx, chromedp.Navigate(begin(r, "enroll", "/")), signintest.Login("carol")); err != nil {
		t.Fatal(err)
	}
	o := r.next()
	if o.err != nil || o.res.Identity.User != "carol@example.com" || strings.Join(o.res.Identity.Groups, ",") != "architects" {
		t.Errorf("carol: %+v, %v", o.res.Identity, o.err)
	}
	if err := chromedp.Run(ctx, network.ClearBrowserCookies(), chromedp.Navigate(begin(r, "enroll", "/")), signintest.Login("dave")); err != nil {
		t.Fatal(err)
	}
	if o := r.next(); !errors.Is(o.err, signin.ErrDomainNotAllowed) {
		t.Errorf("dave: err = %v, want ErrDomainNotAllowed", o.err)
	}
}

// TestEntraGroupsOverageFromProvider: the real provider sends an ID token
// shaped like Entra's for a user in more than 200 groups (_claim_names and
// _claim_sources, no groups claim). The sign-in succeeds, says so with
// GroupsOverage, and carries no groups (unknown, never "none").
func TestEntraGroupsOverageFromProvider(t *testing.T) {
	leakCheck(t)
	r := newRig(t, func(c *signin.Config) {
		c.Preset, c.GroupsClaim = signin.PresetEntra, ""
		c.Scopes = []string{"openid", "email", "profile", "groups"}
	})
	ctx := signintest.Browser(t)
	if err := chromedp.Run(ctx, chromedp.Navigate(begin(r, "enroll", "/")), signintest.Login("erin")); err != nil {
		t.Fatal(err)
	}
	o := r.next()
	if o.err != nil {
		t.Fatalf("erin: %v", o.err)
	}
	if id := o.res.Identity; id.Address != "erin@example.com" || !id.GroupsOverage || id.Groups != nil {
		t.Errorf("erin: address %q overage %v groups %q; want erin@example.com, true, nil", id.Address, id.GroupsOverage, id.Groups)
	}
	if logs := r.logged(); !strings.Contains(logs, "groups overage") {
		t.Errorf("no overage warning in the log: %s", logs)
	}
}

// TestReturnToStaysOnSiteInBrowser (issue 23, finding 3): Chromium asked to
// sign in with an address that browsers turn into another site ("/\t/..."
// becomes "//evil.example/") stays on the relying party's origin with an
// error page, and never reaches the provider.
func TestReturnToStaysOnSiteInBrowser(t *testing.T) {
	leakCheck(t)
	r := newRig(t, nil)
	ctx := signintest.Browser(t)
	for _, to := range []string{"/%09/evil.example/", "/\t/evil.example/", "/\\evil.example", "/%2F%2Fevil.example", "/%5C%5Cevil.example"} {
		if err := chromedp.Run(ctx, network.ClearBrowserCookies(), chromedp.Navigate(begin(r, "unlock", to))); err != nil {
			t.Fatal(err)
		}
		var loc string
		got := page(t, ctx, "#signin-error")
		if err := chromedp.Run(ctx, chromedp.Location(&loc)); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(loc, r.rp.URL+"/") || !strings.Contains(got, "not valid") {
			t.Errorf("return %q: browser at %s, page says %q", to, loc, got)
		}
	}
}

// TestUnlockAsksForPasswordAgain (found by interop's
// TestSignInStoryWithStockClient): a browser that still holds a session at
// the provider must not unlock without the password. With max_age 1s (the
// test's signin.reauth) and alice's provider session older than that, the
// provider shows the login form again, and the sign-in's time (Identity.At)
// is that second authentication's auth_time. Then the holder of the browser
// strips max_age from the URL: the provider reuses the session silently,
// and licgate refuses: with a provider that then sends no auth_time
// (node-oidc-provider's default) as ErrNoAuthTime, with one that always
// sends it (require_auth_time) as ErrReauthRequired, licgate's clock moved
// two minutes on; each with its own message, recording nothing.
func TestUnlockAsksForPasswordAgain(t *testing.T) {
	for _, row := range []struct {
		requireAuthTime bool
		want            error
		says            string
	}{
		{false, signin.ErrNoAuthTime, "did not say when you signed in"},
		{true, signin.ErrReauthRequired, "did not ask for your password"},
	} {
		t.Run(fmt.Sprintf("require_auth_time=%v", row.requireAuthTime), func(t *testing.T) {
			unlockAsksForPasswordAgain(t, row.requireAuthTime, row.want, row.says)
		})
	}
}

func unlockAsksForPasswordAgain(t *testing.T, requireAuthTime bool, want error, says string) {
	leakCheck(t)
	var offset atomic.Int64 // the relying party's clock, ahead of the provider's
	r := newRigOP(t, signintest.OPConfig{RequireAuthTime: requireAuthTime}, func(c *signin.Config) {
		c.Reauth = time.Second
		c.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	})
	ctx := signintest.Browser(t)
	if err := chromedp.Run(ctx, chromedp.Navigate(begin(r, "unlock", "/portal")), signintest.Login("alice")); err != nil {
		t.Fatal(err)
	}
	first := r.next()
	if first.err != nil {
		t.Fatalf("first sign-in: %v", first.err)
	}
	page(t, ctx, "#signed-in")
	// auth_time is in whole seconds: At is it, not the callback's time.
	if at := first.res.Identity.At; at.Nanosecond() != 0 || time.Since(at) > 30*time.Second || time.Until(at) > 0 {
		t.Errorf("first sign-in: Identity.At = %s, want the provider's auth_time (whole seconds, just now)", at)
	}

	// The session must be older than max_age (1s) by the provider's clock:
	// it judges whole seconds.
	time.Sleep(time.Until(first.res.Identity.At.Add(2100 * time.Millisecond)))
	var where string
	if err := chromedp.Run(ctx, chromedp.Navigate(begin(r, "unlock", "/portal")),
		chromedp.Poll(`document.querySelector("input[name=login]") ? "login form" :
			document.querySelector("#signed-in, #signin-error") ? "back at licgate" : ""`, &where)); err != nil {
		t.Fatal(err)
	}
	if where != "login form" {
		o := r.next()
		t.Fatalf("unlock with a provider session older than max_age: the provider did not ask for the password; "+
			"licgate answered %v (At %s, first sign-in at %s)", o.err, o.res.Identity.At, first.res.Identity.At)
	}
	if err := chromedp.Run(ctx, signintest.Reauthenticate("alice")); err != nil {
		t.Fatal(err)
	}
	second := r.next()
	if second.err != nil {
		t.Fatalf("sign-in after the password: %v", second.err)
	}
	if at := second.res.Identity.At; !at.After(first.res.Identity.At.Add(time.Second)) || at.Nanosecond() != 0 || time.Since(at) > 30*time.Second {
		t.Errorf("second sign-in: Identity.At = %s, want its own auth_time (first %s)", at, first.res.Identity.At)
	}
	page(t, ctx, "#signed-in")
	last, _, _ := r.sessions.Last(t.Context(), "alice@example.com")
	if !last.At.Equal(second.res.Identity.At) {
		t.Errorf("recorded sign-in at %s, want the auth_time %s", last.At, second.res.Identity.At)
	}

	// The browser's holder strips max_age: the provider's session answers
	// at once, with its old auth_time, two minutes old by licgate's clock.
	offset.Store(int64(2 * time.Minute))
	noRedirect := *r.client
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirect.Get(begin(r, "unlock", "/portal"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	authz, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || len(resp.Cookies()) != 1 || authz.Query().Get("max_age") != "1" {
		t.Fatalf("begin: %d %s %v %v", resp.StatusCode, authz, resp.Cookies(), err)
	}
	q := authz.Query()
	q.Del("max_age")
	authz.RawQuery = q.Encode()
	ck := resp.Cookies()[0]
	if err := chromedp.Run(ctx,
		network.SetCookie(ck.Name, ck.Value).WithURL(r.rp.URL+ck.Path).WithPath(ck.Path).WithHTTPOnly(true).WithSecure(true),
		chromedp.Navigate(authz.String()),
		chromedp.Poll(`document.querySelector("input[name=login]") ? "login form" :
			document.querySelector("#signed-in, #signin-error") ? "back at licgate" : ""`, &where)); err != nil {
		t.Fatal(err)
	}
	if where != "back at licgate" {
		t.Fatalf("without max_age the provider showed the %s; want it to reuse the session", where)
	}
	stripped := r.next()
	if !errors.Is(stripped.err, want) || stripped.res.Purpose != "unlock" {
		t.Errorf("max_age stripped, provider session 2 minutes old: err = %v, want %v", stripped.err, want)
	}
	if got := page(t, ctx, "#signin-error"); !strings.Contains(got, says) {
		t.Errorf("stale sign-in: page says %q", got)
	}
	if last2, _, _ := r.sessions.Last(t.Context(), "alice@example.com"); !last2.At.Equal(last.At) {
		t.Errorf("the refused sign-in was recorded: %s", last2.At)
	}
}
