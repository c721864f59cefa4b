package gateway_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/licgate/licgate/gateway/gatewaytest"
	"github.com/licgate/licgate/tunnel"
)

// browser starts headless Chromium as the console test does.
func browser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	bin := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("ignore-certificate-errors", true), // licgate's internal CA, reached through loopback
		chromedp.UserDataDir(profileDir(t)),
	)
	opts = append(opts, extra...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 120*time.Second)
	t.Cleanup(cancelT)
	return ctx
}

// TestCSRFInBrowser: a page on another origin, opened by an admin whose
// browser reaches the console through the WireGuard tunnel, tries what a
// hostile page would: a text/plain "JSON" POST (no preflight), a form
// POST, and a fetch with JSON. The admin API refuses them all; nothing
// changes. The console itself, on its own origin, still works.
func TestCSRFInBrowser(t *testing.T) {
	h := gatewaytest.New(t, gatewaytest.Policy("policy:\n  groups:\n    admins: [alice]\n  rules:\n    - {action: allow, who: [\"*\"]}\n"))
	admin := h.AddDevice("alice", "laptop")
	console := "https://" + forward(t, admin)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><body>
<form id=f method=post action="` + console + `/api/v1/devices/alice/laptop/revoke" enctype="text/plain" target=sink>
<input name='{"x":"' value='"}'></form><iframe name=sink></iframe>
<script>
window.results = [];
async function attack() {
  try { await fetch("` + console + `/api/v1/users", {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: '{"name":"mallory"}'}); window.results.push("plain sent"); } catch (e) { window.results.push("plain " + e); }
  try { await fetch("` + console + `/api/v1/users", {method: "POST", mode: "no-cors", credentials: "include", body: '{"name":"mallory2"}'}); window.results.push("nobody sent"); } catch (e) { window.results.push("nobody " + e); }
  try { const r = await fetch("` + console + `/api/v1/users", {method: "POST", headers: {"Content-Type": "application/json"}, body: '{"name":"mallory3"}'}); window.results.push("json " + r.status); } catch (e) { window.results.push("json blocked"); }
  document.getElementById("f").submit();
  window.results.push("form sent");
}
attack();
</script></body>`))
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	// Another origin: "localhost" is another site than 127.0.0.1.
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	evilURL := "http://localhost:" + port + "/"
	ctx := browser(t)
	err = chromedp.Run(ctx,
		chromedp.Navigate(evilURL),
		chromedp.Poll(`window.results && window.results.includes("form sent")`, nil, chromedp.WithPollingTimeout(30*time.Second)),
	)
	if err != nil {
		t.Fatalf("attack page: %v", err)
	}
	// Give the form POST (the last request) its answer before looking:
	// the console's own list is fetched through the same tunnel after it.
	var users string
	err = chromedp.Run(ctx,
		chromedp.Navigate(console+"/#people"),
		chromedp.WaitVisible(`#add-user input[name=name]`),
		chromedp.Poll(`document.querySelector("#users tbody").textContent.includes("alice")`, nil, chromedp.WithPollingTimeout(15*time.Second)),
		chromedp.Text(`#users tbody`, &users),
	)
	if err != nil {
		t.Fatalf("console: %v", err)
	}
	if strings.Contains(users, "mallory") {
		t.Fatalf("a cross-origin page created a user: %s", users)
	}
	ds, err := h.GW.Devices(context.Background(), false)
	if err != nil || len(ds) != 1 {
		t.Fatalf("devices after the attack: %v %v (the form revoked one?)", ds, err)
	}
	// The console on its own origin still changes things.
	err = chromedp.Run(ctx,
		chromedp.SendKeys(`#add-user input[name=name]`, "bob"),
		chromedp.Click(`#add-user button`),
		chromedp.Poll(`document.querySelector("#users tbody").textContent.includes("bob")`, nil, chromedp.WithPollingTimeout(10*time.Second)),
	)
	if err != nil {
		t.Fatalf("same-origin console add: %v", err)
	}
}

// TestEnrolmentDownloadInBrowser: a home user opens the link in Chromium,
// creates the keys, and downloads the files from the page: each link works
// (they were dead "#ZgotmplZ" data: URLs before) and the .conf is the
// profile the page shows, byte for byte, and a working profile.
func TestEnrolmentDownloadInBrowser(t *testing.T) {
	h := gatewaytest.New(t, gatewaytest.TopLevel("public:\n  listen: 127.0.0.1:0\n  name: office.example.test\n  acme: {directory: \"off\"}\n"))
	ctx0 := context.Background()
	h.GW.AddUser(ctx0, "alice", "")
	link, _, err := h.GW.CreateEnrollLink(ctx0, "alice", "laptop", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The browser resolves the office's name to the public listener on
	// loopback, as DNS would; it sends the name (SNI) like any browser.
	page := link
	ctx := browser(t, chromedp.Flag("host-resolver-rules", "MAP office.example.test 127.0.0.1"))
	var hrefs []string
	var shown, conf string
	var html0 string
	if err := chromedp.Run(ctx, chromedp.Navigate(page), chromedp.OuterHTML("html", &html0)); err != nil {
		t.Fatalf("open the link: %v", err)
	}
	if !strings.Contains(html0, "Create the keys") {
		t.Fatalf("link page:\n%s", html0)
	}
	step := func(what string, actions ...chromedp.Action) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Run(sctx, actions...); err != nil {
			var html string
			chromedp.Run(ctx, chromedp.OuterHTML("html", &html))
			t.Fatalf("%s: %v\n%s", what, err, html)
		}
	}
	// The click navigates (a form POST): wait for that page's response.
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(`form button`, chromedp.NodeVisible)); err != nil {
		t.Fatalf("create the keys: %v", err)
	}
	step("the files page", chromedp.Poll(`document.querySelectorAll("a.dl").length > 0`, nil, chromedp.WithPollingTimeout(25*time.Second)))
	step("read the page",
		chromedp.Evaluate(`[...document.querySelectorAll("a.dl")].map(a => a.getAttribute("href"))`, &hrefs),
		chromedp.Evaluate(`document.querySelector("details pre").textContent`, &shown))
	// Download as a person does: click the link; the browser saves the file.
	dl := t.TempDir()
	step("allow downloads", cdpbrowser.SetDownloadBehavior(cdpbrowser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(dl))
	step("click the profile link", chromedp.Click(`a.dl[download$=".conf"]`, chromedp.NodeVisible))
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dl, "laptop.conf"))
		if err == nil && len(b) > 0 {
			conf = string(b)
			break
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(dl)
			t.Fatalf("the browser saved no laptop.conf: %v", entries)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(hrefs) < 5 {
		t.Fatalf("download links: %v", hrefs)
	}
	for _, href := range hrefs {
		if strings.Contains(href, "ZgotmplZ") || !strings.HasPrefix(href, "/enroll/") {
			t.Fatalf("dead download link %q", href)
		}
	}
	if conf == "" || conf != shown {
		t.Fatalf("downloaded .conf differs from the profile on the page:\n%q\n%q", conf, shown)
	}
	p, err := tunnel.ParseProfile(conf)
	if err != nil {
		t.Fatal(err)
	}
	lc := h.StartClient("alice", "laptop", p).TakeSeat(t)
	lc.Close()
}
