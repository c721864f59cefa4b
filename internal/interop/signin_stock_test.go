package interop

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/directory/directorytest"
	"github.com/licgate/licgate/internal/netnstest"
	"github.com/licgate/licgate/session"
	"github.com/licgate/licgate/signin/signintest"
	"github.com/licgate/licgate/store"
)

// TestSignInStoryWithStockClient is the sign-in story of issue 26 with a
// stock client: Debian's wg-quick (wireguard-go) and Chromium in a home
// namespace, the real licgate binary, the office's directory (slapd) and
// its identity provider (node-oidc-provider, which the office runs on its
// public address, as a self-hosted Keycloak would be) in an office
// namespace. The policy admits the directory group "licensed" within a
// minute of a sign-in (signin.unlock: device, the default).
//
//  1. Alice enrols her laptop by signing in, in Chromium; the profile the
//     page shows comes up with wg-quick and takes a seat (the enrolment's
//     sign-in counts). The minute runs out: the seat is cut and a new
//     connection is refused, the denial naming the portal.
//  2. In the same browser, which now reaches the tunnel, she opens the
//     portal the denial names (https://10.44.0.1/portal; it named the admin
//     console's "/", which refuses non-admins, before this test) and
//     follows its sign-in link (it carries her device's token). The
//     provider still holds her session from the enrolment, more than a
//     minute old: with signin.reauth: 1m licgate sends max_age=60, so the
//     provider asks for the password again (before this test licgate asked
//     for no fresh authentication and the old session unlocked silently);
//     then it sends her back, through licgate's public listener, to the
//     portal, which says "Unlocked".
//  3. A seat is held through the tunnel (licsim's holders, the API's
//     sessions).
//  4. The directory locks her account (pwdAccountLockedTime): the next
//     sync cuts the session ("user disabled"), the seat is freed, and a
//     new connection is refused.
func TestSignInStoryWithStockClient(t *testing.T) {
	netnstest.Require(t, "wg", "wg-quick", "wireguard-go")
	signintest.Chromium(t)
	const (
		publicAddr = "10.99.0.1" // the office's address on the home side (newLab's link)
		publicName = "office.example.test"
		people     = "ou=people,dc=example,dc=org"
	)
	var (
		d      *directorytest.Slapd
		op     *signintest.OP
		secret = filepath.Join(t.TempDir(), "signin-secret")
	)
	l := newLab(t, netstackTunnel, func(l *lab) {
		// The office's servers, in the office: slapd on the office's
		// loopback, the provider on the address homes reach.
		l.office.Do(func() {
			d = directorytest.Start(t, directorytest.Options{})
			d.Add(t, "uid=alice,"+people, map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {"alice"}, "cn": {"Alice"}, "sn": {"A"}, "mail": {"alice@example.test"}})
			d.Add(t, "cn=licensed,ou=groups,"+d.BaseDN, map[string][]string{"objectClass": {"groupOfNames"}, "cn": {"licensed"}, "member": {"uid=alice," + people}})
			op = signintest.StartOP(t, signintest.OPConfig{
				Host:         publicAddr,
				RedirectURIs: []string{"https://" + publicName + "/signin/callback"},
				Users:        []signintest.User{{Login: "alice", Email: "alice@example.test"}},
			})
		})
		if err := os.WriteFile(secret, []byte(op.ClientSecret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// newLab appends policyYAML at the top level: the other blocks go
		// with it.
		l.policyYAML = fmt.Sprintf(`policy:
  rules:
    - {action: allow, who: [group:licensed], signin: 1m}
enforcement: {interval: 1s}
public:
  listen: ":443"
  name: %s
  acme: {directory: "off"}
signin:
  issuer: %s
  client_id: %s
  client_secret_file: %s
  allowed_domains: [example.test]
  reauth: 1m
  enrol: {enabled: true}
directory:
  url: %s
  ca_file: %s
  bind_dn: %s
  password_file: %s
  base_dn: %s
  preset: openldap
  interval: 2s
`, publicName, op.Issuer, op.ClientID, secret, d.URL, d.CAFile, d.ReaderDN, d.ReaderPasswordFile, d.BaseDN)
	})
	waitLogged(t, l, "licgate started", 60*time.Second) // the public listener is up

	// (1) Enrolment by sign-in, from home, before any tunnel.
	b := homeBrowser(t, l.home, "MAP "+publicName+" "+publicAddr)
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(b, actions...); err != nil {
			var html, loc string
			chromedp.Run(b, chromedp.Location(&loc), chromedp.OuterHTML("html", &html))
			t.Fatalf("%s: %v\nat %s\n%s", what, err, loc, html)
		}
	}
	run("sign in to enrol", chromedp.Navigate("https://"+publicName+"/signin/begin?purpose=enroll"), signintest.Login("alice"))
	pagePoll(t, b, `document.querySelector("input[name=device]") !== null`, 45*time.Second)
	if _, err := chromedp.RunResponse(b, chromedp.Click(`form button`, chromedp.NodeVisible)); err != nil {
		t.Fatalf("create the keys: %v", err)
	}
	pagePoll(t, b, `document.querySelectorAll("a.dl").length > 0`, 30*time.Second)
	var profile string
	run("read the profile", chromedp.Evaluate(`document.querySelector("details pre").textContent`, &profile))
	enrolled := time.Now()
	if !strings.Contains(profile, "[Interface]") || !strings.Contains(profile, "Endpoint = "+publicAddr) {
		t.Fatalf("the profile the page shows:\n%s", profile)
	}
	conf := filepath.Join(l.dir, tunName("lgs")+".conf")
	if err := os.WriteFile(conf, []byte(profile), 0o600); err != nil {
		t.Fatal(err)
	}
	l.wgUp(conf)
	c, r := l.takeSeat("alice/laptop")
	holdersAre(t, l, "alice/laptop")
	// The enrolment's sign-in unlocked the laptop for the minute; then the
	// window runs out and licgate cuts the seat (its enforcement loop, or a
	// directory sync's re-evaluation, whichever comes first).
	waitSessionEnd(t, l, c, r, session.EndSignIn, 2*time.Minute)
	t.Logf("the enrolment's sign-in held for %s", time.Since(enrolled).Round(time.Second))
	if x := explain(t, l); x.Allow || x.Kind != "signin_required" {
		t.Fatalf("explain after the window: %+v", x)
	}
	denial := seatRefused(t, l, "after the sign-in window", "sign in at the portal")

	// (2) Unlock, from the laptop's own portal, in the same browser: at the
	// address the denial names.
	portal := regexp.MustCompile(`https://\S+$`).FindString(denial)
	if portal == "" {
		t.Fatalf("the denial names no portal: %q", denial)
	}
	run("open the portal the denial names, through the tunnel", chromedp.Navigate(portal))
	pagePoll(t, b, `document.querySelector("#signin") !== null`, 30*time.Second)
	var state, link string
	run("read the portal",
		chromedp.Text("#state", &state, chromedp.ByQuery),
		chromedp.AttributeValue("#signin", "href", &link, nil, chromedp.ByQuery))
	if !strings.Contains(state, "need a fresh sign-in") || !strings.Contains(link, "purpose=unlock") || !strings.Contains(link, "device=") {
		t.Fatalf("portal before unlocking: %q, link %q", state, link)
	}
	// The portal's document is marked, to tell it from the pages after the
	// click.
	// The provider's session from the enrolment must be older than
	// max_age (60 s, whole seconds at the provider): the window of a minute
	// from that sign-in ran out above, so this waits a second at most.
	time.Sleep(time.Until(enrolled.Add(62 * time.Second)))
	run("follow the sign-in link", chromedp.Evaluate(`window.lgBefore = true`, nil), chromedp.Click("#signin", chromedp.ByQuery))
	// The provider still has alice's session from the enrolment, but
	// licgate asked for a fresh authentication: the login form, not a
	// silent return to the portal.
	pagePoll(t, b, `!window.lgBefore && (location.host === "10.44.0.1" || document.querySelector("input[name=login]") !== null)`, 45*time.Second)
	var loc string
	run("where the sign-in went", chromedp.Location(&loc))
	if strings.HasPrefix(loc, "https://10.44.0.1/") {
		t.Fatalf("the provider's session from the enrolment unlocked alice without a password (at %s)", loc)
	}
	run("sign in to unlock with the password", signintest.Reauthenticate("alice"))
	pagePoll(t, b, `location.host === "10.44.0.1" && document.body.textContent.includes("Unlocked")`, 45*time.Second)
	unlocked := time.Now()
	// licgate saw the provider's answer (not only its own portal).
	waitLogged(t, l, `msg="signin: signed in" component=signin purpose=unlock user=alice@example.test`, 10*time.Second)
	if x := explain(t, l); !x.Allow {
		t.Fatalf("explain after the unlock: %+v", x)
	}

	// (3) A seat, held through the tunnel.
	c, r = l.takeSeat("alice/laptop")
	defer c.Close()
	holdersAre(t, l, "alice/laptop")
	if ss := sessionsOf(t, l, "alice"); len(ss) != 1 || ss[0].Device != "laptop" || ss[0].Service != "codemeter" {
		t.Fatalf("the API's sessions: %+v", ss)
	}

	// (4) The directory locks alice: the next sync cuts her.
	l.office.Do(func() { d.Replace(t, "uid=alice,"+people, "pwdAccountLockedTime", "000001010000Z") })
	waitSessionEnd(t, l, c, r, session.EndDisabled, 30*time.Second)
	t.Logf("cut %s after the unlock", time.Since(unlocked).Round(time.Millisecond))
	if ss := sessionsOf(t, l, "alice"); len(ss) != 0 {
		t.Fatalf("sessions after the directory locked alice: %+v", ss)
	}
	if x := explain(t, l); x.Allow || x.Kind != "disabled" {
		t.Fatalf("explain after the directory locked alice: %+v", x)
	}
	seatRefused(t, l, "after the directory locked alice", "disabled")
}

// homeBrowser starts headless Chromium inside ns (`ip netns exec`), with
// its own profile, resolving names by rules (no DNS in the test network)
// and trusting licgate's internal CA as a person clicking through would.
// Its DevTools socket is on ns's loopback, so the connection to it is
// opened from inside ns.
func homeBrowser(t *testing.T, ns *netnstest.NS, rules string) context.Context {
	t.Helper()
	bin := signintest.Chromium(t)
	dir, err := os.MkdirTemp("", "lgstock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Chromium's helpers may write to the profile for a moment after
		// the browser is gone: retry instead of t.TempDir's strict removal.
		for i := 0; i < 50 && os.RemoveAll(dir) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	wrapper := filepath.Join(dir, "chromium-in-ns")
	if err := os.WriteFile(wrapper, []byte(fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", ns.Name, bin)), 0o755); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(wrapper),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("ignore-certificate-errors", true),
		// Other names resolve nowhere; addresses are left alone.
		chromedp.Flag("host-resolver-rules", rules+", MAP * ~NOTFOUND, EXCLUDE 10.*, EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.WindowSize(1000, 800),
		chromedp.WSURLReadTimeout(time.Minute), // a loaded CI machine starts Chromium slowly
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	ns.Do(func() { err = chromedp.Run(ctx) })
	if err != nil {
		t.Fatalf("start Chromium in %s: %v", ns.Name, err)
	}
	ctx, cancelT := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(cancelT)
	return ctx
}

// pagePoll evaluates expr in the page until it is true, across the
// navigations of a sign-in (redirects replace the page's context).
func pagePoll(t *testing.T, ctx context.Context, expr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var ok bool
		err := chromedp.Run(ctx, chromedp.Evaluate(expr, &ok))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			var html, loc string
			chromedp.Run(ctx, chromedp.Location(&loc), chromedp.OuterHTML("html", &html))
			t.Fatalf("never true: %s (%v) at %s\n%s", expr, err, loc, html)
		}
		time.Sleep(100 * time.Millisecond) // polling the page's state
	}
}

// waitLogged waits until licgate's log has line.
func waitLogged(t *testing.T, l *lab, line string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(l.logs.String(), line) {
		if time.Now().After(deadline) {
			t.Fatalf("licgate never logged %q", line)
		}
		time.Sleep(50 * time.Millisecond) // polling another process's output
	}
}

// holdersAre checks licsim's own list of who holds its seats.
func holdersAre(t *testing.T, l *lab, clients ...string) {
	t.Helper()
	var got []string
	for _, h := range l.srv.Holders() {
		got = append(got, h.Client)
	}
	if strings.Join(got, ",") != strings.Join(clients, ",") {
		t.Fatalf("licsim's holders %v, want %v", got, clients)
	}
}

func explain(t *testing.T, l *lab) adminapi.ExplainResult {
	t.Helper()
	var x adminapi.ExplainResult
	if err := l.api.Do(context.Background(), "POST", "/api/v1/policy/explain",
		adminapi.ExplainRequest{User: "alice", Device: "laptop", Service: "codemeter"}, &x); err != nil {
		t.Fatalf("explain: %v", err)
	}
	return x
}

func sessionsOf(t *testing.T, l *lab, user string) []session.SessionInfo {
	t.Helper()
	var all, out []session.SessionInfo
	if err := l.api.Do(context.Background(), "GET", "/api/v1/sessions", nil, &all); err != nil {
		t.Fatalf("sessions: %v", err)
	}
	for _, s := range all {
		if s.User == user {
			out = append(out, s)
		}
	}
	return out
}

// sessionEndRE reads the proxy's "session end" lines (slog's text format).
var sessionEndRE = regexp.MustCompile(`msg="session end" .*?session=(\d+) .*?reason=(?:"([^"]*)"|(\S+))`)

// waitSessionEnd waits, within, for the gateway to close the seat held on
// c, for licsim to free it, and for licgate's log to give the session's
// end reason, which must be want.
func waitSessionEnd(t *testing.T, l *lab, c net.Conn, r *bufio.Reader, want string, within time.Duration) {
	t.Helper()
	ss := sessionsOf(t, l, "alice")
	if len(ss) != 1 {
		t.Fatalf("the API's sessions of alice: %+v", ss)
	}
	id := fmt.Sprint(ss[0].ID)
	start := time.Now()
	c.SetReadDeadline(start.Add(within))
	for {
		if _, err := r.ReadString('\n'); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the seat stayed open %s (want it cut: %s)", within, want)
			}
			break
		}
	}
	c.Close()
	if !l.srv.WaitInUse(0, 10*time.Second) {
		t.Fatalf("licsim still has the seat after the cut: %+v", l.srv.Holders())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, m := range sessionEndRE.FindAllStringSubmatch(l.logs.String(), -1) {
			if m[1] != id {
				continue
			}
			if got := m[2] + m[3]; got != want {
				t.Fatalf("session %s ended for %q, want %q", id, got, want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("licgate logged no end of session %s", id)
		}
		time.Sleep(50 * time.Millisecond) // polling another process's output
	}
}

// seatRefused checks that a new connection through the tunnel gets no
// seat (the gateway refuses it or closes it without an answer), and that
// the audit log records the denial with a reason containing why. It
// returns the reason.
func seatRefused(t *testing.T, l *lab, when, why string) string {
	t.Helper()
	tried := time.Now()
	if c, err := l.dial("tcp", "10.44.0.1:22350", 5*time.Second); err == nil {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "HELLO alice/laptop\n")
		ans, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("%s: the connection stayed open, unanswered", when)
		}
		if err == nil {
			t.Fatalf("%s: HELLO answered %q", when, ans)
		}
	}
	if l.srv.InUse() != 0 {
		t.Fatalf("%s: licsim's holders %+v", when, l.srv.Holders())
	}
	return deniedFor(t, l, tried, when, why)
}

// deniedFor waits for the audit log's denial of alice/laptop since
// tried, whose reason must contain why.
func deniedFor(t *testing.T, l *lab, tried time.Time, when, why string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ds []store.AuditDenialRow
		if err := l.api.Do(context.Background(), "GET", "/api/v1/audit/denials?since=1h", nil, &ds); err != nil {
			t.Fatalf("denials: %v", err)
		}
		for _, d := range ds {
			if d.User == "alice" && d.Device == "laptop" && !d.At.Before(tried.Truncate(time.Second)) {
				if !strings.Contains(d.Reason, why) {
					t.Fatalf("%s: denied for %q, want %q", when, d.Reason, why)
				}
				t.Logf("%s: denied: %s", when, d.Reason)
				return d.Reason
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no denial in the audit log: %+v", when, ds)
		}
		time.Sleep(100 * time.Millisecond) // the audit log is written in batches
	}
}
