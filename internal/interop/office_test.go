package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/internal/licsim"
	"github.com/licgate/licgate/internal/netnstest"
	"github.com/licgate/licgate/portmap/portmaptest"
)

// TestOfficeZeroTouch is issue 14's path from a fresh machine, for real:
// an office behind a home router (Debian's miniupnpd, portmaptest), the
// license server (licsim) and an SMTP server (Mailpit) in the office, a
// home user on the internet side. After "installing" (go build -o, where
// a package puts the binary) IT types three licgate commands in the office
// namespace; the home user opens the link from the e-mail, creates the
// device, downloads the profile and the Linux helper, runs the helper
// (wg-quick; a stand-in cmu) and takes a seat through the router's mapped
// port. The router's mapping exists while licgate runs and is gone after
// it stops.
//
// What is not zero-touch yet, and done here by the test as a person
// would: the service manager (none in a namespace: the test starts
// `licgate serve -c` when setup has written the config, as systemd would
// when setup installs the unit), and the router's TCP forward for the
// enrolment page (portmap maps only WireGuard's UDP port): a static
// forward, as set once in the router's web page.
func TestOfficeZeroTouch(t *testing.T) {
	netnstest.Require(t, "wg", "wg-quick", "wireguard-go", "nft", "miniupnpd")
	r := portmaptest.New(t, portmaptest.Options{})
	// No DNS in the test network: lookups (licgate's ACME attempt for the
	// public certificate) fail at once instead of timing out at the
	// host's resolver, which the namespaces cannot reach.
	r.Office.SetResolver("127.0.0.1")
	lic := &licsim.Server{Seats: 2, Name: "office"}
	r.Office.Do(func() {
		if err := lic.Listen(portmaptest.Office.String() + ":0"); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { lic.Close() })
	mp := startNSMailpit(t, r.Office)

	// "Install": the binary where a package puts it.
	root := t.TempDir()
	bin := filepath.Join(root, "usr", "bin", "licgate")
	etc, state, itHome := filepath.Join(root, "etc", "licgate"), filepath.Join(root, "var", "lib", "licgate"), filepath.Join(root, "home", "it")
	for _, d := range []string{filepath.Dir(bin), etc, itHome} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if data, err := os.ReadFile(licgateBin); err != nil || os.WriteFile(bin, data, 0o755) != nil {
		t.Fatalf("install: %v", err)
	}
	cfg := filepath.Join(etc, "licgate.yaml")

	// What IT types, in the office. -c is there because the config is not
	// at the default path in a test; the docs' commands leave it out.
	var typed []string
	it := func(args ...string) *exec.Cmd {
		typed = append(typed, "licgate "+strings.Join(args, " "))
		c := r.Office.Cmd(append([]string{bin}, args...)...)
		c.Dir = itHome
		return c
	}

	// (1) setup. It waits for the service it installs to come up before
	// it enrols the admin; here the test is the service manager.
	setup := it("setup", "--upstream", lic.Addr().String(), "--public-name", portmaptest.WAN.String(), "--portmap", "on",
		"--public-listen", ":8443", "--smtp-host", "127.0.0.1", "--smtp-port", fmt.Sprint(mp.SMTPPort), "--smtp-security", "none",
		"--smtp-from", "Example Architects IT <it@example.test>", "--admin", "it", "--no-service", "--yes",
		"-c", cfg, "--state-dir", state)
	var setupOut syncBuffer
	setup.Stdout, setup.Stderr = &setupOut, &setupOut
	if err := setup.Start(); err != nil {
		t.Fatal(err)
	}
	setupDone := make(chan error, 1)
	go func() { setupDone <- setup.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for { // setup writes the config atomically: once it exists, it is whole
		if _, err := os.Stat(cfg); err == nil {
			break
		}
		select {
		case err := <-setupDone:
			t.Fatalf("setup ended before writing the config: %v\n%s", err, setupOut.String())
		case <-time.After(20 * time.Millisecond): // polling another process's file
		}
		if time.Now().After(deadline) {
			t.Fatalf("setup wrote no config:\n%s", setupOut.String())
		}
	}
	d := startDaemon(t, r.Office, bin, cfg, filepath.Join(state, "licgate.sock"))
	select {
	case err := <-setupDone:
		if err != nil {
			t.Fatalf("setup: %v\n%s\nlicgate log:\n%s", err, setupOut.String(), d.logs.String())
		}
	case <-time.After(60 * time.Second):
		setup.Process.Kill()
		t.Fatalf("setup did not finish:\n%s", setupOut.String())
	}
	out := setupOut.String()
	t.Logf("licgate setup:\n%s", out)
	for _, want := range []string{"answers", "Admin it enrolled"} {
		if !strings.Contains(out, want) {
			t.Errorf("setup output lacks %q", want)
		}
	}
	if strings.Contains(out, "forward UDP") || strings.Contains(out, "forward TCP") || strings.Contains(out, "--smtp-host") {
		t.Errorf("setup asks for what it was given (a forward on the router, or smtp)")
	}
	if _, err := os.Stat(filepath.Join(itHome, "it-laptop.conf")); err != nil {
		t.Errorf("the admin's profile: %v", err)
	}

	// The daemon finishes starting (the public listener waits for its
	// certificate: ACME first, which cannot succeed here). Links asked for
	// before that fail (see the report: CreateEnrollLink before the
	// public listener is up).
	start := time.Now()
	d.waitLog(t, "licgate started", 120*time.Second)
	t.Logf("daemon fully started %s after setup returned", time.Since(start).Round(time.Millisecond))

	// licgate mapped its WireGuard port on the router by itself.
	h := d.waitMapped(t)
	t.Logf("router mapping: %s %s:%d -> :%d", h.Portmap.Protocol, h.Portmap.ExternalAddress, h.Portmap.ExternalPort, h.Portmap.InternalPort)
	ext := h.Portmap.ExternalPort
	if rules := r.Rules(); !strings.Contains(rules, fmt.Sprintf("dport %d", ext)) || !strings.Contains(rules, portmaptest.Office.String()) {
		t.Fatalf("no forwarding for UDP %d on the router:\n%s", ext, rules)
	}

	// ... and the enrolment page's TCP port too: nobody touches the router.
	deadline = time.Now().Add(30 * time.Second)
	for {
		hp, err := d.api.Health(context.Background())
		if err == nil && hp.PortmapPublic != nil && hp.PortmapPublic.State == "mapped" {
			if hp.PortmapPublic.ExternalPort != 8443 {
				t.Fatalf("the links' port was mapped to %d, the links say 8443", hp.PortmapPublic.ExternalPort)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no TCP mapping for the enrolment page: %+v %v", hp.PortmapPublic, err)
		}
		time.Sleep(100 * time.Millisecond) // polling the daemon's status
	}

	// (2) the users, (3) the invitations. --device only keeps the
	// interface name unique on this shared test machine (wireguard-go's
	// socket is /var/run/wireguard/NAME.sock); the default is "home".
	csv := filepath.Join(itHome, "users.csv")
	os.WriteFile(csv, []byte("name,email,groups\nhanna,hanna@home.example,staff\n"), 0o644)
	if out, err := it("user", "import", "-c", cfg, "users.csv").CombinedOutput(); err != nil || !strings.Contains(out2s(out), "1 users added") {
		t.Fatalf("user import: %v\n%s", err, out)
	} else {
		t.Logf("licgate user import:\n%s", out)
	}
	dev := fmt.Sprintf("e14h%d", os.Getpid()%100000)
	if out, err := it("invite", "--all", "-c", cfg, "--device", dev).CombinedOutput(); err != nil || !strings.Contains(out2s(out), "invitation sent to hanna@home.example") {
		t.Fatalf("invite: %v\n%s", err, out)
	} else {
		t.Logf("licgate invite:\n%s", out)
	}
	t.Logf("IT typed %d commands after install:\n  %s", len(typed), strings.Join(typed, "\n  "))
	if len(typed) > 3 {
		t.Errorf("IT typed %d commands, want at most 3", len(typed))
	}

	// The home user, on the internet: the e-mail.
	msgs := mp.Messages(t)
	if len(msgs) != 1 || !bytes.Contains(msgs[0], []byte("hanna@home.example")) {
		t.Fatalf("%d messages delivered:\n%s", len(msgs), bytes.Join(msgs, []byte("\n----\n")))
	}
	decoded, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(msgs[0])))
	link := regexp.MustCompile(`https://` + regexp.QuoteMeta(portmaptest.WAN.String()) + `:8443/enroll/[A-Za-z0-9_-]+`).FindString(string(decoded))
	if link == "" {
		t.Fatalf("no link to the router's address in the message:\n%s", decoded)
	}
	// The browser: trusts licgate's internal CA here (ACME cannot reach a
	// CA from the test network; a real browser would warn once).
	ca, err := d.api.CA(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	browser := nsHTTPClient(r.Internet, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}})
	page := fetch(t, browser, "GET", link, nil)
	if !strings.Contains(page, "hanna") {
		t.Fatalf("the link's page:\n%s", page)
	}
	page = fetch(t, browser, "POST", link, url.Values{"action": {"generate"}})
	home := t.TempDir()
	u, _ := url.Parse(link)
	for _, f := range []string{dev + ".conf", dev + "-linux.sh"} {
		if !strings.Contains(page, u.Path+"/"+f) {
			t.Fatalf("the result page has no %s:\n%s", f, page)
		}
		os.WriteFile(filepath.Join(home, f), []byte(fetch(t, browser, "GET", link+"/"+f, nil)), 0o600)
	}
	conf, _ := os.ReadFile(filepath.Join(home, dev+".conf"))
	if want := fmt.Sprintf("Endpoint = %s:%d", portmaptest.WAN, ext); !strings.Contains(string(conf), want) {
		t.Fatalf("profile lacks %q:\n%s", want, conf)
	}

	// The helper: wg-quick, and CodeMeter told about the gateway.
	helperEnv, calls := standInCMU(t)
	helper := filepath.Join(home, dev+"-linux.sh")
	if out, err := r.Internet.TryRun(helperEnv, "sh", helper); err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	} else {
		t.Logf("helper:\n%s", out)
	}
	t.Cleanup(func() {
		r.Internet.TryRun(helperEnv, "sh", helper, "--uninstall")
		os.Remove("/var/run/wireguard/" + dev + ".sock")
	})
	if c, _ := os.ReadFile(calls); !strings.Contains(string(c), "--add-server 10.44.0.1") {
		t.Fatalf("cmu calls: %s", c)
	}

	// A seat, through the router's mapped port.
	var conn net.Conn
	if err := portmaptest.In(r.Internet, func() (err error) {
		conn, err = net.DialTimeout("tcp", "10.44.0.1:22350", 10*time.Second)
		return err
	}); err != nil {
		t.Fatalf("connect through the tunnel: %v\n%s", err, r.Internet.Run("wg", "show", dev))
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	fmt.Fprintf(conn, "HELLO hanna/%s\n", dev)
	if ans, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(ans, "OK ") {
		t.Fatalf("HELLO: %q %v\nlicgate log:\n%s", ans, err, d.logs.String())
	}
	fmt.Fprintf(conn, "PING zt\n")
	if ans, err := br.ReadString('\n'); err != nil || ans != "PONG zt\n" {
		t.Fatalf("PING: %q %v", ans, err)
	}
	if n := lic.InUse(); n != 1 {
		t.Fatalf("seats in use on the license server: %d", n)
	}
	if ep := r.Internet.Run("wg", "show", dev, "endpoints"); !strings.Contains(ep, fmt.Sprintf("%s:%d", portmaptest.WAN, ext)) {
		t.Fatalf("the tunnel's endpoint: %s", ep)
	}

	// licgate stops: the mapping goes with it.
	d.stop()
	if rules := r.Rules(); strings.Contains(rules, fmt.Sprintf("dport %d", ext)) {
		t.Fatalf("the mapping outlived licgate:\n%s", rules)
	}
}

func out2s(b []byte) string { return string(b) }

// daemon is `licgate serve` in a namespace, as the service runs it.
type daemon struct {
	cmd      *exec.Cmd
	logs     *syncBuffer
	api      *adminapi.Client
	stopOnce sync.Once
	t        *testing.T
}

func startDaemon(t *testing.T, ns *netnstest.NS, bin, cfg, socket string) *daemon {
	t.Helper()
	d := &daemon{cmd: ns.Cmd(bin, "serve", "-c", cfg), logs: &syncBuffer{}, api: adminapi.NewClient(socket), t: t}
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("licgate log:\n%s", d.logs.String())
		}
	})
	return d
}

// stop ends the daemon as the service manager does (SIGTERM) and waits.
func (d *daemon) stop() {
	d.stopOnce.Do(func() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { d.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			d.cmd.Process.Kill()
			<-done
			d.t.Errorf("licgate did not stop on SIGTERM")
		}
	})
}

// waitLog waits until the daemon has logged line (it logs "licgate
// started" when every listener is up, where systemd's notify would say
// ready).
func (d *daemon) waitLog(t *testing.T, line string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(d.logs.String(), line) {
		if time.Now().After(deadline) {
			t.Fatalf("licgate did not log %q within %s:\n%s", line, within, d.logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling another process's log
	}
}

// waitMapped waits until the daemon reports the router mapping.
func (d *daemon) waitMapped(t *testing.T) adminapi.Health {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		h, err := d.api.Health(context.Background())
		if err == nil && h.Portmap != nil && h.Portmap.State == "mapped" {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("no router mapping after 30s: %+v %v\n%s", h.Portmap, err, d.logs.String())
		}
		time.Sleep(100 * time.Millisecond) // polling the daemon's status
	}
}

// fetch does one request and returns the body; anything but 200 fails.
func fetch(t *testing.T, c *http.Client, method, u string, form url.Values) string {
	t.Helper()
	var resp *http.Response
	var err error
	if method == "POST" {
		resp, err = c.PostForm(u, form)
	} else {
		resp, err = c.Get(u)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %s\n%s", method, u, resp.Status, b)
	}
	return string(b)
}

// standInCMU is a cmu that records its arguments, and the environment
// that keeps the helper's files in the test's directories.
func standInCMU(t *testing.T) (env []string, calls string) {
	t.Helper()
	bin := t.TempDir()
	calls = filepath.Join(bin, "cmu.log")
	servers := filepath.Join(bin, "servers")
	os.WriteFile(filepath.Join(bin, "cmu"), []byte(fmt.Sprintf(`#!/bin/sh
echo "$*" >> %[1]s
case "$1" in
--list-server) cat %[2]s 2>/dev/null ;;
--add-server) echo "$2" >> %[2]s ;;
--delete-server) grep -v "^$2\$" %[2]s > %[2]s.new; mv %[2]s.new %[2]s ;;
esac
`, calls, servers)), 0o755)
	env = append([]string{"PATH=" + bin + ":" + os.Getenv("PATH"), "LICGATE_WG_DIR=" + t.TempDir(), "LICGATE_LIB_DIR=" + t.TempDir(), "LICGATE_NO_SYSTEMD=1"}, wgEnv...)
	return env, calls
}
