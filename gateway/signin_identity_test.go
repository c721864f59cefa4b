package gateway_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/gateway/gatewaytest"
	"github.com/licgate/licgate/signin/signintest"
)

// signinRig is a gateway whose public listener signs people in at a real
// OpenID provider (node-oidc-provider).
type signinRig struct {
	h    *gatewaytest.Harness
	op   *signintest.OP
	base string // https://office.example.test:<port>
}

func newSigninRig(t *testing.T, users []signintest.User, policy, signinExtra string) *signinRig {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	op := signintest.StartOP(t, signintest.OPConfig{
		RedirectURIs: []string{"https://office.example.test:" + port + "/signin/callback"},
		Users:        users,
	})
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(op.ClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := gatewaytest.New(t, gatewaytest.Policy(policy),
		gatewaytest.TopLevel(fmt.Sprintf("public:\n  listen: 127.0.0.1:%s\n  name: office.example.test\n  acme: {directory: \"off\"}\n"+
			"signin:\n  issuer: %s\n  client_id: %s\n  client_secret_file: %s\n%s", port, op.Issuer, op.ClientID, secret, signinExtra)))
	return &signinRig{h: h, op: op, base: "https://office.example.test:" + port}
}

var portalLinkRE = regexp.MustCompile(`id="signin" href="([^"]+)"`)

// portalLink is the sign-in link the tunnel portal shows to c, with its
// return address changed to "/": the test's browser has no tunnel and
// must not try to reach 10.44.0.1 on the real network.
func (r *signinRig) portalLink(t *testing.T, c *gatewaytest.Client) string {
	t.Helper()
	return portalLink(t, r.h, c)
}

func portalLink(t *testing.T, h *gatewaytest.Harness, c *gatewaytest.Client) string {
	t.Helper()
	resp, err := httpsVia(t, h, c.Dev.DialContext).Get("https://10.44.0.1/portal")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := portalLinkRE.FindSubmatch(b)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("portal %d:\n%s", resp.StatusCode, b)
	}
	u, err := url.Parse(html.UnescapeString(string(m[1])))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("device") == "" || q.Get("purpose") != "unlock" {
		t.Fatalf("portal link without a device token: %s", u)
	}
	q.Set("return", "/")
	u.RawQuery = q.Encode()
	return u.String()
}

// signInHTTP signs in as login at the provider with a plain HTTP client
// whose connections come from src (a loopback address of its own, so the
// public listener's per-address rate limit does not pace the test), from
// start (a /signin/begin URL) through the provider's login and consent
// forms back to licgate; it returns licgate's final page.
func (r *signinRig) signInHTTP(t *testing.T, src netip.Addr, start, login string) (int, string) {
	t.Helper()
	client := r.publicClient(t, src)
	jar, _ := cookiejar.New(nil)
	client.Jar = jar
	resp, err := client.Get(start)
	actionRE := regexp.MustCompile(`<form[^>]*action="([^"]+)"`)
	promptRE := regexp.MustCompile(`name="prompt" value="(\w+)"`)
	for i := 0; ; i++ {
		if err != nil {
			t.Fatalf("sign in as %s: %v", login, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Request.URL.Host == strings.TrimPrefix(r.base, "https://") || i == 4 {
			return resp.StatusCode, string(b)
		}
		action, prompt := actionRE.FindSubmatch(b), promptRE.FindSubmatch(b)
		if action == nil || prompt == nil {
			t.Fatalf("sign in as %s: no form at %s:\n%s", login, resp.Request.URL, b)
		}
		form := url.Values{"prompt": {string(prompt[1])}}
		if string(prompt[1]) == "login" {
			form.Set("login", login)
			form.Set("password", "any password")
		}
		next, _ := resp.Request.URL.Parse(html.UnescapeString(string(action[1])))
		resp, err = client.PostForm(next.String(), form)
	}
}

// publicClient talks to the public listener (office.example.test, trusting
// licgate's CA) and to the provider, from source address src.
func (r *signinRig) publicClient(t *testing.T, src netip.Addr) *http.Client {
	t.Helper()
	root, err := r.h.GW.CARoot()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(root)
	public := r.h.GW.PublicAddr().String()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if strings.HasPrefix(addr, "office.example.test:") {
				addr = public
			}
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: 30 * time.Second, Transport: tr}
}

// TestSignInIdentityRule (issue 23, finding 1): the user alice has the
// e-mail alice@example.com and two devices. Accounts alice@gmail.com,
// ALICE@evil.example, alice@example.org (all in allowed domains, so only
// the identity rule stands between them and alice) and alice@example.com
// without email_verified sign in, in Chromium, from the portal link of
// alice's laptop: none becomes alice, the laptop stays locked, and no
// enrolment by sign-in makes a device or a user for them. Then alice
// herself signs in from the laptop's link: the laptop takes a seat, her
// pc stays locked.
func TestSignInIdentityRule(t *testing.T) {
	outsiders := []signintest.User{
		{Login: "gmail", Email: "alice@gmail.com"},
		{Login: "evil", Email: "ALICE@evil.example"},
		{Login: "org", Email: "alice@example.org"},
		{Login: "unverified", Email: "alice@example.com", NoEmailVerified: true},
	}
	r := newSigninRig(t, append([]signintest.User{{Login: "alice", Email: "Alice@Example.com"}}, outsiders...),
		"policy:\n  rules:\n    - {action: allow, who: [user:alice], signin: 12h}\n",
		"  allowed_domains: [example.com, example.org, gmail.com, evil.example]\n  enrol: {enabled: true}\n")
	ctx := context.Background()
	if _, err := r.h.GW.AddUser(ctx, "alice", "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	laptop := r.h.AddDevice("alice", "laptop")
	pc := r.h.AddDevice("alice", "pc")
	locked := func(device string) bool {
		t.Helper()
		x, err := r.h.GW.Explain(ctx, adminapi.ExplainRequest{User: "alice", Device: device, Service: "codemeter"})
		if err != nil {
			t.Fatal(err)
		}
		return !x.Allow && x.Kind == "signin_required"
	}
	if !locked("laptop") || !locked("pc") {
		t.Fatal("alice's devices are unlocked before any sign-in")
	}
	bctx := browser(t, chromedp.Flag("host-resolver-rules", "MAP office.example.test 127.0.0.1"))
	for _, o := range outsiders {
		link := r.portalLink(t, laptop)
		if err := chromedp.Run(bctx, network.ClearBrowserCookies(), chromedp.Navigate(link), signintest.Login(o.Login)); err != nil {
			t.Fatalf("%s signs in: %v", o.Email, err)
		}
		waitFor(t, bctx, `document.body && /no access|not verified|not allowed|unlocked/.test(document.body.textContent)`)
		var text string
		if err := chromedp.Run(bctx, chromedp.Text("body", &text)); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(text, "unlocked") || !locked("laptop") || !locked("pc") {
			t.Fatalf("%s (%s) unlocked alice: %q", o.Login, o.Email, text)
		}
	}
	// Enrolment by sign-in: no device, no second "alice". Plain HTTP from
	// addresses of their own (the public listener's rate limit is per address).
	for i, o := range outsiders {
		code, body := r.signInHTTP(t, netip.AddrFrom4([4]byte{127, 0, 4, byte(i + 1)}), r.base+"/signin/begin?purpose=enroll", o.Login)
		if code == 200 || strings.Contains(body, `name="ticket"`) {
			t.Errorf("%s (%s) may enrol: %d\n%s", o.Login, o.Email, code, body)
		}
	}
	users, err := r.h.GW.Users(ctx)
	if err != nil || len(users) != 1 {
		t.Fatalf("users after the outsiders: %+v %v", users, err)
	}
	if devs, _ := r.h.GW.Devices(ctx, false); len(devs) != 2 {
		t.Fatalf("devices after the outsiders: %+v", devs)
	}

	// Alice, from the laptop's portal link: the laptop only.
	link := r.portalLink(t, laptop)
	if err := chromedp.Run(bctx, network.ClearBrowserCookies(), chromedp.Navigate(link), signintest.Login("alice")); err != nil {
		t.Fatalf("alice signs in: %v", err)
	}
	waitFor(t, bctx, `document.body && document.body.textContent.includes("unlocked")`)
	laptop.TakeSeat(t).Close()
	if lc, ans, err := pc.TrySeat(5 * time.Second); err == nil && strings.HasPrefix(ans, "OK ") {
		lc.Close()
		t.Fatal("the sign-in from the laptop unlocked the pc")
	}
	if !locked("pc") || locked("laptop") {
		t.Fatal("after alice's sign-in from the laptop: want the laptop unlocked and the pc locked")
	}
	// Without the portal's link nothing is unlocked (signin.unlock: device).
	code, body := r.signInHTTP(t, netip.AddrFrom4([4]byte{127, 0, 4, 100}), r.base+"/signin/begin?purpose=unlock", "alice")
	if code != http.StatusForbidden || !strings.Contains(body, "portal") || !locked("pc") {
		t.Fatalf("unlock without the device link: %d\n%s", code, body)
	}
	// A link of alice's laptop signed in by someone else's account does not
	// unlock it either (checked above); a tampered token is refused.
	u, _ := url.Parse(r.portalLink(t, pc))
	q := u.Query()
	q.Set("device", strings.Replace(q.Get("device"), "A", "B", 1)+"x")
	u.RawQuery = q.Encode()
	if code, body := r.signInHTTP(t, netip.AddrFrom4([4]byte{127, 0, 4, 101}), u.String(), "alice"); code != http.StatusForbidden || !locked("pc") {
		t.Fatalf("tampered device link: %d\n%s", code, body)
	}
}

var ticketRE = regexp.MustCompile(`name="ticket" value="([^"]+)"`)

// TestSignInEnrolDeviceLimitParallel (issue 23, finding 2): with
// max_devices 3, 32 parallel POSTs to /signin/enrol (8 tickets from 8
// sign-ins, each posted 4 times, each from its own address) make exactly 3
// devices; every ticket works once at most.
func TestSignInEnrolDeviceLimitParallel(t *testing.T) {
	r := newSigninRig(t, []signintest.User{{Login: "carol", Email: "carol@example.com"}},
		"policy:\n  rules:\n    - {action: allow, who: [\"*\"]}\n",
		"  allowed_domains: [example.com]\n  enrol: {enabled: true, max_devices: 3}\n")
	ctx := context.Background()
	var tickets []string
	for i := 0; i < 8; i++ {
		code, body := r.signInHTTP(t, netip.AddrFrom4([4]byte{127, 0, 5, byte(i + 1)}), r.base+"/signin/begin?purpose=enroll", "carol")
		m := ticketRE.FindStringSubmatch(body)
		if code != 200 || m == nil {
			t.Fatalf("sign-in %d: %d\n%s", i, code, body)
		}
		tickets = append(tickets, html.UnescapeString(m[1]))
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	status := map[int]int{}
	for i := 0; i < 32; i++ {
		client := r.publicClient(t, netip.AddrFrom4([4]byte{127, 0, 6, byte(i + 1)}))
		form := url.Values{"ticket": {tickets[i%8]}, "device": {fmt.Sprintf("pc%d", i)}, "action": {"make"}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := client.PostForm(r.base+"/signin/enrol", form)
			if err != nil {
				t.Errorf("post: %v", err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			status[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	devs, err := r.h.GW.Devices(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 3 || status[200] != 3 {
		t.Fatalf("%d devices, answers %v; want 3 devices and 3 answers 200", len(devs), status)
	}
	if status[http.StatusForbidden]+status[http.StatusGone] != 29 {
		t.Errorf("answers %v: want the other 29 refused (403 limit, 410 ticket used)", status)
	}
}

// TestSignInReturnToStaysOnSite (issue 23, finding 3): Chromium sent to the
// public listener's sign-in with a return address that browsers turn into
// another site stays on licgate's origin, with the refusal page, and never
// reaches the provider.
func TestSignInReturnToStaysOnSite(t *testing.T) {
	r := newSigninRig(t, []signintest.User{{Login: "alice", Email: "alice@example.com"}},
		"policy:\n  rules:\n    - {action: allow, who: [\"*\"]}\n", "  allowed_domains: [example.com]\n  enrol: {enabled: true}\n")
	bctx := browser(t, chromedp.Flag("host-resolver-rules", "MAP office.example.test 127.0.0.1"))
	for _, to := range []string{"/%09/evil.example/", "/\\evil.example", "/%2F%2Fevil.example/"} {
		if err := chromedp.Run(bctx, chromedp.Navigate(r.base+"/signin/begin?"+url.Values{"purpose": {"enroll"}, "return": {to}}.Encode())); err != nil {
			t.Fatal(err)
		}
		waitFor(t, bctx, `document.body && document.body.textContent.length > 0`)
		var loc, text string
		if err := chromedp.Run(bctx, chromedp.Location(&loc), chromedp.Text("body", &text)); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(loc, r.base+"/") || !strings.Contains(text, "not valid") {
			t.Errorf("return %q: browser at %s: %q", to, loc, text)
		}
	}
}
