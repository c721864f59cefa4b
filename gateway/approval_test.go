package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/adminapi/approval"
	"github.com/licgate/licgate/gateway/gatewaytest"
	"github.com/licgate/licgate/mail/mailtest"
	"github.com/licgate/licgate/signin/signintest"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/tunnel"
)

// TestSignInEnrolmentApproval, with node-oidc-provider, Chromium and
// Mailpit: signin.enrol.approval: required for the contractors group.
// Alice (a contractor) enrols her laptop by signing in: the page says it
// waits for approval and shows her profile once, the admins get a mail
// with who, what and the commands, and her tunnel gets nothing until an
// admin presses Approve in the console's queue; then it takes a seat.
// Carol (staff) is not asked to wait. Bob's request is denied with the
// CLI's client: his device never connects and the request is gone.
func TestSignInEnrolmentApproval(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	op := signintest.StartOP(t, signintest.OPConfig{
		RedirectURIs: []string{"https://office.example.test:" + port + "/signin/callback"},
		Users: []signintest.User{
			{Login: "alice", Email: "alice@example.test"},
			{Login: "bob", Email: "bob@example.test"},
			{Login: "carol", Email: "carol@example.test"},
		},
	})
	mp := mailtest.Start(t, mailtest.Options{})
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte(op.ClientSecret+"\n"), 0o600)
	h := gatewaytest.New(t,
		gatewaytest.Policy("policy:\n  groups:\n    admins: [root]\n    contractors: [alice, bob]\n  rules:\n    - {action: allow, who: [\"*\"]}\n"),
		gatewaytest.TopLevel(fmt.Sprintf("public:\n  listen: 127.0.0.1:%s\n  name: office.example.test\n  acme: {directory: \"off\"}\n"+
			"smtp: {host: 127.0.0.1, port: %d, security: none, from: \"Office IT <it@example.test>\", organization: Example Architects}\n"+
			"signin:\n  issuer: %s\n  client_id: %s\n  client_secret_file: %s\n  allowed_domains: [example.test]\n"+
			"  enrol: {enabled: true, approval: required, approval_groups: [contractors], notify: [admins@example.test]}\n",
			port, mp.Port, op.Issuer, op.ClientID, secret)))
	ctx := context.Background()
	queue := approval.NewClient(adminapi.NewClient(h.Config.Socket))
	admin := h.AddDevice("root", "admin")
	console := "https://" + forward(t, admin) + "/"
	base := "https://office.example.test:" + port

	// Alice enrols; the page says her device waits, and shows the profile.
	bctx := browser(t, chromedp.Flag("host-resolver-rules", "MAP office.example.test 127.0.0.1"))
	p, page := enrolBySignIn(t, bctx, base, "alice", "laptop")
	if !strings.Contains(page, "waits for approval") {
		t.Fatalf("alice's enrolment page does not say it waits for approval:\n%s", page)
	}
	// A sync, as any later change or a restart makes: pending devices stay
	// out of the peers. The client starts after it, so its first handshake
	// would find a peer that leaked.
	if err := h.GW.SyncPeers(ctx); err != nil {
		t.Fatal(err)
	}
	alice := h.StartClient("alice", "laptop", p)
	if _, ans, err := alice.TrySeat(3 * time.Second); err == nil {
		t.Fatalf("alice's pending device got a seat: %q", ans)
	}
	ps, err := queue.Pending(ctx)
	if err != nil || len(ps) != 1 || ps[0].User != "alice" || ps[0].Name != "laptop" || ps[0].Pending == nil || ps[0].Address != p.Address.Addr() {
		t.Fatalf("pending = %+v, %v; want alice/laptop at %v", ps, err, p.Address)
	}
	if _, err := h.GW.Store().Device(ctx, "alice", "laptop"); err == nil {
		t.Fatal("the pending device is an active device")
	}

	// The admins' mail: who, what, when, and the commands.
	msgs := waitMail(t, mp, 1)
	m, err := netmail.ReadMessage(bytes.NewReader(msgs[0]))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	text := mailText(t, m)
	if m.Header.Get("To") != "<admins@example.test>" || !strings.Contains(subject, "alice") || !strings.Contains(subject, "laptop") ||
		!strings.Contains(text, "sudo licgate device approve alice laptop") || !strings.Contains(text, "sudo licgate device deny alice laptop") ||
		!strings.Contains(text, "alice@example.test") || !strings.Contains(text, p.Address.Addr().String()) || !strings.Contains(text, "https://10.44.0.1") {
		t.Fatalf("admin mail: To %q, Subject %q\n%s", m.Header.Get("To"), subject, text)
	}

	// An admin approves in the console's queue; then alice takes a seat.
	var status string
	err = chromedp.Run(bctx,
		chromedp.Navigate(console+"#people"),
		chromedp.Poll(`document.querySelector("#pending tbody").textContent.includes("laptop")`, nil, chromedp.WithPollingTimeout(15*time.Second)),
		chromedp.Click(`//table[@id="pending"]//tr[contains(., "laptop")]//button[.="Approve"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//p[@id="status"][contains(., "approved")]`, chromedp.BySearch),
		chromedp.Text(`#status`, &status),
	)
	if err != nil {
		t.Fatalf("approve in the console: %v", err)
	}
	alice.TakeSeat(t).Close()
	if ps, err := queue.Pending(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("pending after approval: %+v %v", ps, err)
	}

	// Carol is no contractor: her device works at once, no mail.
	cctx := browser(t, chromedp.Flag("host-resolver-rules", "MAP office.example.test 127.0.0.1"))
	cp, cpage := enrolBySignIn(t, cctx, base, "carol", "pc")
	if strings.Contains(cpage, "waits for approval") {
		t.Fatalf("carol's enrolment waits for approval:\n%s", cpage)
	}
	h.StartClient("carol", "pc", cp).TakeSeat(t).Close()

	// Bob's request is denied: it is gone, and his device never connects.
	dctx := browser(t, chromedp.Flag("host-resolver-rules", "MAP office.example.test 127.0.0.1"))
	bp, _ := enrolBySignIn(t, dctx, base, "bob", "tablet")
	waitMail(t, mp, 2)
	if err := h.GW.SyncPeers(ctx); err != nil {
		t.Fatal(err)
	}
	bob := h.StartClient("bob", "tablet", bp)
	if _, ans, err := bob.TrySeat(2 * time.Second); err == nil {
		t.Fatalf("bob's pending device got a seat: %q", ans)
	}
	if _, err := queue.Deny(ctx, "bob", "tablet"); err != nil {
		t.Fatal(err)
	}
	if _, err := queue.Approve(ctx, "bob", "tablet"); err == nil {
		t.Fatal("a denied request was approved")
	}
	if ps, err := queue.Pending(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("pending after deny: %+v %v", ps, err)
	}
	if err := h.GW.SyncPeers(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ans, err := bob.TrySeat(2 * time.Second); err == nil {
		t.Fatalf("bob's denied device got a seat: %q", ans)
	}
	h.GW.SyncAudit()
	evs, _ := h.GW.Store().AuditEvents(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 100)
	want := map[string]bool{"device.request alice/laptop": false, "device.approve alice/laptop": false,
		"device.request bob/tablet": false, "device.deny bob/tablet": false}
	for _, e := range evs {
		for k := range want {
			a, d, _ := strings.Cut(k, " ")
			if e.Action == a && strings.HasPrefix(e.Detail, d+" ") {
				want[k] = true
			}
		}
	}
	for k, ok := range want {
		if !ok {
			t.Errorf("no audit event %s in %+v", k, evs)
		}
	}
}

// TestApprovalRequestExpires: a request nobody answers ends after
// signin.enrol.approval_ttl: the enforcement loop's sweep removes it
// (audited as device.request.expire), it can no longer be approved, its
// device never connected, and its name, key and address are free again.
func TestApprovalRequestExpires(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("unused\n"), 0o600)
	h := gatewaytest.New(t,
		gatewaytest.TopLevel("public:\n  listen: 127.0.0.1:0\n  name: office.example.test\n  acme: {directory: \"off\"}\n"+
			fmt.Sprintf("signin:\n  issuer: https://idp.example.test\n  client_id: licgate\n  client_secret_file: %s\n  allowed_domains: [example.test]\n", secret)+
			"  enrol: {enabled: true, approval: required, approval_ttl: 2s}\n"+
			"enforcement:\n  interval: 100ms\n"))
	ctx := context.Background()
	if _, err := h.GW.AddUser(ctx, "dave", "dave@example.test"); err != nil {
		t.Fatal(err)
	}
	priv, err := tunnel.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	d, err := h.GW.RequestDevice(ctx, store.NewDevice{User: "dave", Name: "pc", PublicKey: priv.PublicKey().String()}, 3, 20, time.Now().Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.GW.SyncPeers(ctx); err != nil {
		t.Fatal(err)
	}
	dave := h.StartClient("dave", "pc", h.GW.Profile(d, priv))
	if _, ans, err := dave.TrySeat(time.Second); err == nil {
		t.Fatalf("a pending device got a seat: %q", ans)
	}
	queue := approval.NewClient(adminapi.NewClient(h.Config.Socket))
	deadline := time.Now().Add(15 * time.Second)
	for {
		ps, err := queue.Pending(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the request never ended: %+v", ps)
		}
		time.Sleep(100 * time.Millisecond) // polling the API as an admin would; the sweep runs on the enforcement interval
	}
	if _, err := queue.Approve(ctx, "dave", "pc"); err == nil {
		t.Fatal("an ended request was approved")
	}
	h.GW.SyncAudit()
	evs, _ := h.GW.Store().AuditEvents(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 100)
	var expired bool
	for _, e := range evs {
		expired = expired || e.Action == "device.request.expire" && strings.HasPrefix(e.Detail, "dave/pc ")
	}
	if !expired {
		t.Fatalf("no audit event device.request.expire for dave/pc: %+v", evs)
	}
	again, err := h.GW.AddDevice(ctx, "dave", "pc", priv.PublicKey().String())
	if err != nil || again.Device.Address != d.Address {
		t.Fatalf("after expiry the name, key and address %v are free: got %+v, %v", d.Address, again.Device, err)
	}
}

// enrolBySignIn signs user in at the public page in bctx, names the
// device, lets licgate make the key pair, and returns the profile shown
// and the page's text.
func enrolBySignIn(t *testing.T, bctx context.Context, base, user, device string) (tunnel.Profile, string) {
	t.Helper()
	if err := chromedp.Run(bctx, chromedp.Navigate(base+"/signin/begin?purpose=enroll"), signintest.Login(user)); err != nil {
		t.Fatalf("%s signs in: %v", user, err)
	}
	waitFor(t, bctx, `document.querySelector("input[name=device]") !== null`)
	if err := chromedp.Run(bctx, chromedp.SetValue(`input[name=device]`, device)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.RunResponse(bctx, chromedp.Click(`form button`, chromedp.NodeVisible)); err != nil {
		t.Fatalf("%s creates the keys: %v", user, err)
	}
	var shown, page string
	if err := chromedp.Run(bctx, chromedp.Poll(`document.querySelectorAll("a.dl").length > 0`, nil, chromedp.WithPollingTimeout(25*time.Second)),
		chromedp.Evaluate(`document.querySelector("details pre").textContent`, &shown), chromedp.Text("main", &page)); err != nil {
		t.Fatalf("%s's bundle page: %v", user, err)
	}
	p, err := tunnel.ParseProfile(shown)
	if err != nil {
		t.Fatalf("profile: %v\n%s", err, shown)
	}
	return p, page
}

// waitMail waits until Mailpit holds n messages and returns them.
func waitMail(t *testing.T, mp *mailtest.Mailpit, n int) [][]byte {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		msgs := mp.Messages(t)
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d message(s) in Mailpit, want %d", len(msgs), n)
		}
		time.Sleep(100 * time.Millisecond) // polling an external server's API
	}
}

// mailText is the decoded text/plain part of m.
func mailText(t *testing.T, m *netmail.Message) string {
	t.Helper()
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if err != nil {
			t.Fatalf("no text/plain part: %v", err)
		}
		if strings.HasPrefix(part.Header.Get("Content-Type"), "text/plain") {
			b, _ := io.ReadAll(part)
			return string(b)
		}
	}
}
