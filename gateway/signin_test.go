package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/gateway/gatewaytest"
	"github.com/licgate/licgate/signin/signintest"
	"github.com/licgate/licgate/tunnel"
)

// TestSignInEnrolAndUnlock, with a real OpenID provider (node-oidc-provider)
// and Chromium: the policy lets staff take licenses only within 12 hours
// of a sign-in. Alice enrols her laptop by signing in (no link) and its
// profile takes a seat; Bob's enrolled device is held back (the denial
// says where to sign in) until he signs in at the portal, and the stock
// WireGuard tunnel stays up throughout.
func TestSignInEnrolAndUnlock(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	op := signintest.StartOP(t, signintest.OPConfig{
		RedirectURIs: []string{"https://office.example.test:" + port + "/signin/callback"},
		Users: []signintest.User{
			{Login: "alice", Email: "alice@example.test", Groups: []string{"staff"}},
			{Login: "bob", Email: "bob@example.test", Groups: []string{"staff"}},
		},
	})
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte(op.ClientSecret+"\n"), 0o600)
	h := gatewaytest.New(t,
		gatewaytest.Policy("policy:\n  groups:\n    staff: [alice, bob]\n  rules:\n    - {name: staff, action: allow, who: [group:staff], signin: 12h}\n"),
		gatewaytest.TopLevel(fmt.Sprintf("public:\n  listen: 127.0.0.1:%s\n  name: office.example.test\n  acme: {directory: \"off\"}\n"+
			"signin:\n  issuer: %s\n  client_id: %s\n  client_secret_file: %s\n  allowed_domains: [example.test]\n  enrol: {enabled: true}\n",
			port, op.Issuer, op.ClientID, secret)))
	ctx := context.Background()
	if _, err := h.GW.AddUser(ctx, "bob", "bob@example.test"); err != nil { // a sign-in binds by the stored e-mail
		t.Fatal(err)
	}
	bob := h.AddDevice("bob", "pc")
	// Bob's tunnel is up, but the license service waits for a sign-in.
	if _, ans, err := bob.TrySeat(5 * time.Second); err == nil {
		t.Fatalf("bob got a seat without signing in: %q", ans)
	}
	x, err := h.GW.Explain(ctx, adminapi.ExplainRequest{User: "bob", Device: "pc", Service: "codemeter"})
	if err != nil || x.Allow || x.Kind != "signin_required" || !strings.Contains(x.Explain+x.Reason, "sign in") {
		t.Fatalf("explain before sign-in: %+v %v", x, err)
	}
	// The portal inside the tunnel tells Bob where to sign in.
	portal := func() string {
		c := httpsVia(t, h, bob.Dev.DialContext)
		resp, err := c.Get("https://10.44.0.1/portal")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("portal %d: %s", resp.StatusCode, b)
		}
		return string(b)
	}
	if pg := portal(); !strings.Contains(pg, "/signin/begin?") || !strings.Contains(pg, "purpose=unlock") || !strings.Contains(pg, "device=") || !strings.Contains(pg, "need a fresh sign-in") {
		t.Fatalf("portal before sign-in:\n%s", pg)
	}
	base := "https://office.example.test:" + port
	bctx := browser(t, chromedp.Flag("host-resolver-rules", "MAP office.example.test 127.0.0.1"))

	// Alice: enrol by sign-in.
	if err := chromedp.Run(bctx, chromedp.Navigate(base+"/signin/begin?purpose=enroll"), signintest.Login("alice")); err != nil {
		t.Fatalf("alice signs in: %v", err)
	}
	var form string
	waitFor(t, bctx, `document.querySelector("input[name=device]") !== null`)
	if err := chromedp.Run(bctx, chromedp.OuterHTML("main", &form)); err != nil {
		t.Fatalf("device form after sign-in: %v", err)
	}
	if !strings.Contains(form, "Signed in as <strong>alice</strong>") {
		t.Fatalf("device form: %s", form)
	}
	if _, err := chromedp.RunResponse(bctx, chromedp.Click(`form button`, chromedp.NodeVisible)); err != nil {
		t.Fatalf("create the keys: %v", err)
	}
	var shown string
	if err := chromedp.Run(bctx, chromedp.Poll(`document.querySelectorAll("a.dl").length > 0`, nil, chromedp.WithPollingTimeout(25*time.Second)),
		chromedp.Evaluate(`document.querySelector("details pre").textContent`, &shown)); err != nil {
		t.Fatalf("bundle page: %v", err)
	}
	p, err := tunnel.ParseProfile(shown)
	if err != nil {
		t.Fatalf("profile: %v\n%s", err, shown)
	}
	alice := h.StartClient("alice", "laptop", p)
	alice.TakeSeat(t).Close()

	// Bob, on his own computer (a browser of his own): sign in to unlock,
	// from the link of his device's portal.
	bctx = browser(t, chromedp.Flag("host-resolver-rules", "MAP office.example.test 127.0.0.1"))
	if err := chromedp.Run(bctx, chromedp.Navigate(portalLink(t, h, bob)), signintest.Login("bob")); err != nil {
		t.Fatalf("bob signs in: %v", err)
	}
	var done string
	waitFor(t, bctx, `document.body && document.body.textContent.includes("unlocked")`)
	if err := chromedp.Run(bctx, chromedp.Text("main", &done)); err != nil {
		t.Fatalf("unlock page: %v", err)
	}
	lc := bob.TakeSeat(t)
	lc.Close()
	if pg := portal(); !strings.Contains(pg, "Unlocked") {
		t.Fatalf("portal after sign-in:\n%s", pg)
	}
}

// waitFor evaluates expr until it is true, across the navigations of a
// sign-in (redirects replace the page's context mid-poll).
func waitFor(t *testing.T, ctx context.Context, expr string) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		var ok bool
		err := chromedp.Run(ctx, chromedp.Evaluate(expr, &ok))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			var html, loc string
			chromedp.Run(ctx, chromedp.OuterHTML("html", &html), chromedp.Location(&loc))
			t.Fatalf("never true: %s (%v) at %s\n%s", expr, err, loc, html)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
