package gateway_test

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/licgate/licgate/gateway/gatewaytest"
	"github.com/licgate/licgate/internal/testnet"
	"github.com/licgate/licgate/tunnel"
)

// forward accepts on loopback and relays each connection through an
// admin device's WireGuard tunnel to the console at 10.44.0.1:443, as the
// WireGuard app does for a browser on the admin's computer.
func forward(t *testing.T, c *gatewaytest.Client) string {
	ln := testnet.Serve(t, func(local net.Conn) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		remote, err := c.Dev.DialContext(ctx, "tcp", "10.44.0.1:443")
		cancel()
		if err != nil {
			return
		}
		defer remote.Close()
		go io.Copy(remote, local)
		io.Copy(local, remote)
	})
	return ln.Addr().String()
}

func chromium(t *testing.T) string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	testnet.Missing(t, "chromium is not installed (CI installs it: see .ci/run)")
	return ""
}

// profileDir is Chromium's user data directory. Chromium's helper
// processes may still write to it for a moment after the browser is gone,
// so it is removed with retries instead of by t.TempDir's strict cleanup.
func profileDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "lgchrome")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 50 && os.RemoveAll(dir) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	return dir
}

func artifacts(t *testing.T) string {
	dir := os.Getenv("LICGATE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "licgate-artifacts")
	}
	os.MkdirAll(dir, 0o755)
	return dir
}

// TestConsoleInBrowser drives the web console in Debian's Chromium: an
// admin adds a user and a device, a client takes a seat with the profile
// the console handed out, the session appears on the dashboard, the admin
// revokes the device and the session disappears.
func TestConsoleInBrowser(t *testing.T) {
	bin := chromium(t)
	h := gatewaytest.New(t, gatewaytest.Policy("policy:\n  groups:\n    admins: [alice]\n  rules:\n    - {action: allow, who: [\"*\"]}\n"))
	admin := h.AddDevice("alice", "laptop")
	addr := forward(t, admin)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// The console's certificate is for 10.44.0.1, issued by licgate's
		// internal CA; this browser reaches it through a loopback relay.
		// (TLS itself is verified with the CA in TestAdminInsideTunnel.)
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.UserDataDir(profileDir(t)),
		chromedp.WindowSize(1200, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	defer cancelT()
	base := "https://" + addr + "/"
	shot := func(name string) {
		var png []byte
		if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err == nil {
			os.WriteFile(filepath.Join(artifacts(t), name), png, 0o644)
		}
	}
	var users string
	err := chromedp.Run(ctx,
		chromedp.Navigate(base+"#people"),
		chromedp.WaitVisible(`#add-user input[name=name]`),
		chromedp.SendKeys(`#add-user input[name=name]`, "bob"),
		chromedp.SendKeys(`#add-user input[name=email]`, "bob@example.com"),
		chromedp.Click(`#add-user button`),
		chromedp.Poll(`document.querySelector("#users tbody").textContent.includes("bob")`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Text(`#users tbody`, &users),
		chromedp.SetValue(`#add-device select[name=user]`, "bob"),
		chromedp.SendKeys(`#add-device input[name=name]`, "pc"),
		chromedp.Click(`#add-device button`),
		chromedp.WaitVisible(`#new-qr`),
	)
	if err != nil {
		t.Fatalf("console: %v", err)
	}
	shot("console-new-device.png")
	var profile string
	if err := chromedp.Run(ctx, chromedp.TextContent(`#new-profile`, &profile)); err != nil {
		t.Fatal(err)
	}
	p, err := tunnel.ParseProfile(profile)
	if err != nil {
		t.Fatalf("profile from the console: %v\n%s", err, profile)
	}
	lc := h.StartClient("bob", "pc", p).TakeSeat(t)
	defer lc.Close()
	err = chromedp.Run(ctx,
		chromedp.Navigate(base+"#dashboard"),
		chromedp.Poll(`document.querySelector("#sessions tbody").textContent.includes("bob")`, nil, chromedp.WithPollingTimeout(15*time.Second)),
	)
	if err != nil {
		t.Fatalf("session did not appear on the dashboard: %v", err)
	}
	shot("console-dashboard-session.png")
	err = chromedp.Run(ctx,
		chromedp.Evaluate(`window.confirm = () => true`, nil),
		chromedp.Click(`#sessions tbody button`),
		chromedp.Poll(`document.querySelector("#sessions tbody").textContent.trim() === "none"`, nil, chromedp.WithPollingTimeout(15*time.Second)),
	)
	if err != nil {
		t.Fatalf("revoke from the dashboard: %v", err)
	}
	shot("console-dashboard-revoked.png")
	if !h.Server.WaitInUse(0, 5*time.Second) {
		t.Fatal("seat not released after revoke in the console")
	}
	var explain string
	err = chromedp.Run(ctx,
		chromedp.Navigate(base+"#policy"),
		chromedp.WaitVisible(`#explain input[name=user]`),
		chromedp.SendKeys(`#explain input[name=user]`, "bob"),
		chromedp.Click(`#explain button`),
		chromedp.Poll(`document.querySelector("#explain-out").textContent.includes("decision")`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Text(`#explain-out`, &explain),
	)
	if err != nil || !strings.Contains(explain, "decision: ALLOW") {
		t.Fatalf("explain form: %v %q", err, explain)
	}
	shot("console-policy.png")
	err = chromedp.Run(ctx,
		chromedp.Navigate(base+"#report"),
		chromedp.Click(`#report-form button[type=submit]`),
		chromedp.Poll(`document.querySelectorAll("#chart rect").length > 0 && document.querySelector("#report-rows tbody").textContent.includes("bob")`, nil, chromedp.WithPollingTimeout(10*time.Second)),
	)
	if err != nil {
		t.Fatalf("usage report: %v", err)
	}
	shot("console-report.png")
	// A phone: the page fits the width (no sideways scrolling of the page;
	// wide tables scroll inside themselves).
	var overflow bool
	err = chromedp.Run(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(base+"#dashboard"),
		chromedp.WaitVisible(`#services`),
		chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth + 1`, &overflow),
	)
	if err != nil {
		t.Fatal(err)
	}
	shot("console-phone.png")
	if overflow {
		t.Fatal("the dashboard is wider than a phone screen")
	}
}
