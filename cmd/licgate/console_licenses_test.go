package main

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/licgate/licgate/gateway/gatewaytest"
	"github.com/licgate/licgate/internal/testnet"
)

// TestConsoleLicensesInBrowser drives the console's Licenses page and the
// usage report by product in Debian's Chromium, through an admin
// device's tunnel: while bob holds a seat the page names him and the
// service's in-use count; after he lets go, the report by product shows
// the service's cap, the peak of 1 and the seat never used.
func TestConsoleLicensesInBrowser(t *testing.T) {
	bin := ""
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			bin = p
		}
	}
	if bin == "" {
		testnet.Missing(t, "chromium is not installed (CI installs it: see .ci/run)")
		return
	}
	h := gatewaytest.New(t, gatewaytest.Policy("policy:\n  groups:\n    admins: [alice]\n  services:\n    codemeter: {max_sessions: 2}\n  rules:\n    - {action: allow, who: [\"*\"]}\n"))
	admin := h.AddDevice("alice", "laptop")
	ln := testnet.Serve(t, func(local net.Conn) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		remote, err := admin.Dev.DialContext(ctx, "tcp", "10.44.0.1:443")
		cancel()
		if err != nil {
			return
		}
		defer remote.Close()
		go io.Copy(remote, local)
		io.Copy(local, remote)
	})
	profile, err := os.MkdirTemp("", "lgchrome")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 50 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond) // Chromium's helpers may still write for a moment
		}
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.Flag("headless", true), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("ignore-certificate-errors", true), // licgate's internal CA, reached through loopback
		chromedp.UserDataDir(profile), chromedp.WindowSize(1200, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	defer cancelT()
	shot := func(name string) {
		dir := os.Getenv("LICGATE_ARTIFACTS")
		if dir == "" {
			dir = filepath.Join(os.TempDir(), "licgate-artifacts")
		}
		os.MkdirAll(dir, 0o755)
		var png []byte
		if chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)) == nil {
			os.WriteFile(filepath.Join(dir, name), png, 0o644)
		}
	}
	base := "https://" + ln.Addr().String() + "/"

	lc := h.AddDevice("bob", "desk").TakeSeat(t)
	var rows string
	err = chromedp.Run(ctx,
		chromedp.Navigate(base+"#licenses"),
		chromedp.Poll(`document.querySelector("#license-rows tbody").textContent.includes("bob/desk")`, nil, chromedp.WithPollingTimeout(15*time.Second)),
		chromedp.Text(`#license-rows tbody`, &rows),
	)
	if err != nil {
		t.Fatalf("licenses page: %v", err)
	}
	shot("console-licenses.png")
	// SERVICE PRODUCT IN-USE TOTAL HELD-BY FROM
	if !strings.Contains(rows, "codemeter (") || !strings.Contains(rows, "\t1\t-\tbob/desk") || !strings.Contains(rows, "licgate sessions") {
		t.Fatalf("licenses row: %q", rows)
	}
	lc.Close()
	h.WaitSessions(0, 5*time.Second)
	var products string
	err = chromedp.Run(ctx,
		chromedp.Navigate(base+"#report"),
		chromedp.WaitVisible(`#report-form select[name=by]`),
		chromedp.SetValue(`#report-form select[name=by]`, "product"),
		chromedp.Click(`#report-form button[type=submit]`),
		chromedp.Poll(`!document.querySelector("#report-products").hidden && document.querySelector("#report-products tbody").textContent.includes("codemeter")`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Text(`#report-products tbody`, &products),
	)
	if err != nil {
		t.Fatalf("report by product: %v", err)
	}
	shot("console-report-product.png")
	// PRODUCT SEATS PEAK AT-LIMIT NEVER-USED SEAT-HOURS USERS
	if f := strings.Split(strings.TrimSpace(products), "\t"); len(f) != 7 || f[0] != "codemeter" || f[1] != "2" || f[2] != "1" || f[3] != "0.00 h" || f[4] != "1" || f[6] != "1" {
		t.Fatalf("report by product row: %q", products)
	}
}
