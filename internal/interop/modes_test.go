package interop

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/licgate/licgate/internal/netnstest"
)

// TestLinuxHelper runs the generated Linux helper for real in the home
// namespace, with a stand-in cmu that records its arguments: it brings
// the tunnel up, registers the gateway with CodeMeter once however often
// it runs, and undoes all of it.
func TestLinuxHelper(t *testing.T) {
	l := newLab(t, netstackTunnel, nil)
	l.cli("user", "add", "bob")
	name := tunName("lgl")
	bundleDir := t.TempDir()
	l.cli("device", "add", "bob", "pc", "--out", filepath.Join(bundleDir, name), "--no-qr")
	bin := t.TempDir()
	record := filepath.Join(bin, "cmu.log")
	servers := filepath.Join(bin, "servers")
	os.WriteFile(filepath.Join(bin, "cmu"), []byte(fmt.Sprintf(`#!/bin/sh
echo "$*" >> %[1]s
case "$1" in
--list-server) cat %[2]s 2>/dev/null ;;
--add-server) echo "$2" >> %[2]s ;;
--delete-server) grep -v "^$2\$" %[2]s > %[2]s.new; mv %[2]s.new %[2]s ;;
esac
`, record, servers)), 0o755)
	wgDir, libDir := t.TempDir(), t.TempDir()
	env := append([]string{"PATH=" + bin + ":" + os.Getenv("PATH"), "LICGATE_WG_DIR=" + wgDir, "LICGATE_LIB_DIR=" + libDir, "LICGATE_NO_SYSTEMD=1"}, wgEnv...)
	helper := filepath.Join(bundleDir, name+"-linux.sh")
	for i := 0; i < 2; i++ { // idempotent: the second run changes nothing
		out, err := l.home.TryRun(env, "sh", helper)
		if err != nil {
			t.Fatalf("helper run %d: %v\n%s", i+1, err, out)
		}
		if i == 1 && (!strings.Contains(out, "already up") || !strings.Contains(out, "CodeMeter already lists 10.44.0.1")) {
			t.Fatalf("second run was not a no-op:\n%s", out)
		}
	}
	t.Cleanup(func() { l.home.TryRun(env, "sh", helper, "--uninstall") })
	calls, _ := os.ReadFile(record)
	if got := strings.Count(string(calls), "--add-server 10.44.0.1"); got != 1 {
		t.Fatalf("cmu --add-server called %d times:\n%s", got, calls)
	}
	c, _ := l.takeSeat("bob/pc")
	c.Close()
	// Routes only the gateway's address.
	routes := l.home.Run("ip", "route", "show", "dev", name)
	if strings.TrimSpace(routes) != "10.44.0.1 scope link" {
		t.Fatalf("routes through the tunnel: %q", routes)
	}
	if out, err := l.home.TryRun(env, "sh", helper, "reresolve"); err != nil || strings.Contains(out, "re-resolved") {
		t.Fatalf("reresolve on a live tunnel: %v %s", err, out)
	}
	out, err := l.home.TryRun(env, "sh", helper, "--uninstall")
	if err != nil {
		t.Fatalf("uninstall: %v\n%s", err, out)
	}
	calls, _ = os.ReadFile(record)
	if !strings.Contains(string(calls), "--delete-server 10.44.0.1") {
		t.Fatalf("uninstall did not remove the server:\n%s", calls)
	}
	if _, err := l.home.TryRun(nil, "wg", "show", name); err == nil {
		t.Fatal("tunnel still up after uninstall")
	}
	if _, err := os.Stat(filepath.Join(wgDir, name+".conf")); !os.IsNotExist(err) {
		t.Fatal("profile left behind")
	}
}

// TestEndpointFollowsDDNS: the profile's Endpoint is a name. When the
// office address changes, a running tunnel stays dead (the client resolved
// the name once), until the helper's re-resolve job sets the endpoint again.
func TestEndpointFollowsDDNS(t *testing.T) {
	var officeAddr atomic.Pointer[string]
	first := "10.99.0.1"
	officeAddr.Store(&first)
	l := newLab(t, "tunnel:\n  listen_port: 51820\n  endpoint: office.lg.test\n", func(l *lab) {
		// The zone's server lives in the office on an address that stays.
		l.office.Run("ip", "addr", "add", "10.99.0.53/24", "dev", l.officeIf)
		var pc net.PacketConn
		l.office.Do(func() {
			var err error
			if pc, err = net.ListenPacket("udp", "10.99.0.53:53"); err != nil {
				t.Fatal(err)
			}
		})
		srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(r)
			m.Authoritative = true
			if q := r.Question[0]; q.Name == "office.lg.test." && q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1},
					A: netip.MustParseAddr(*officeAddr.Load()).AsSlice()})
			}
			w.WriteMsg(m)
		})}
		go srv.ActivateAndServe()
		t.Cleanup(func() { srv.Shutdown() })
		l.home.SetResolver("10.99.0.53")
	})
	l.cli("user", "add", "carol")
	name := tunName("lgd")
	bundleDir := t.TempDir()
	l.cli("device", "add", "carol", "laptop", "--out", filepath.Join(bundleDir, name), "--no-qr")
	conf := filepath.Join(bundleDir, name+".conf")
	if data, _ := os.ReadFile(conf); !strings.Contains(string(data), "Endpoint = office.lg.test:51820") {
		t.Fatalf("profile endpoint:\n%s", data)
	}
	l.wgUp(conf)
	c, _ := l.takeSeat("carol/laptop")
	c.Close()

	// The office gets a new public address; DNS follows (as licgate's
	// DDNS would do it).
	// (promote_secondaries: removing the first address must not remove
	// the DNS server's and the new one with it.)
	l.office.Run("sysctl", "-qw", "net.ipv4.conf."+l.officeIf+".promote_secondaries=1")
	l.office.Run("ip", "addr", "add", "10.99.0.3/24", "dev", l.officeIf)
	l.office.Run("ip", "addr", "del", "10.99.0.1/24", "dev", l.officeIf)
	next := "10.99.0.3"
	officeAddr.Store(&next)

	// The problem: without re-resolution the tunnel stays dead.
	deadUntil := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadUntil) {
		if c, err := l.dial("tcp", "10.44.0.1:22350", 2*time.Second); err == nil {
			c.Close()
			t.Fatal("the tunnel came back by itself: the test does not show the problem")
		}
	}
	// The fix: the helper's re-resolve job (run by a timer every 30 s;
	// here at once, with a short handshake age).
	env := append([]string{"LICGATE_NO_SYSTEMD=1"}, wgEnv...)
	out, err := l.home.TryRun(env, "sh", filepath.Join(bundleDir, name+"-linux.sh"), "reresolve", "--max-age", "2")
	if err != nil || !strings.Contains(out, "re-resolved") {
		t.Fatalf("reresolve: %v\n%s", err, out)
	}
	start := time.Now()
	var recovered bool
	for time.Since(start) < 15*time.Second {
		if c, err := l.dial("tcp", "10.44.0.1:22350", 2*time.Second); err == nil {
			c.Close()
			recovered = true
			break
		}
	}
	if !recovered {
		t.Fatalf("tunnel did not recover after re-resolution:\n%s", l.home.Run("wg", "show", name))
	}
	// The endpoint left the old address (WireGuard then roams to the
	// office's reply source address, which in this lab may be its other
	// address on the same link).
	if ep := l.home.Run("wg", "show", name, "endpoints"); strings.Contains(ep, "10.99.0.1:") {
		t.Fatalf("endpoint after re-resolve: %s", ep)
	}
	t.Logf("recovered %s after re-resolution", time.Since(start).Round(time.Millisecond))
	c2, _ := l.takeSeat("carol/laptop")
	c2.Close()
}

// TestTUNMode: licgate creates a TUN interface and runs wireguard-go on it
// (CAP_NET_ADMIN); the proxy listens on the interface's address.
func TestTUNMode(t *testing.T) {
	iface := tunName("lgt")
	l := newLab(t, fmt.Sprintf("tunnel:\n  mode: tun\n  interface: %s\n  listen_port: 51820\n  endpoint: 10.99.0.1\n", iface), nil)
	if addrs := l.office.Run("ip", "-4", "addr", "show", "dev", iface); !strings.Contains(addrs, "10.44.0.1/24") {
		t.Fatalf("tun interface: %s", addrs)
	}
	l.cli("user", "add", "dave")
	name := tunName("lgh")
	l.cli("device", "add", "dave", "pc", "--out", filepath.Join(l.dir, name), "--no-qr")
	l.wgUp(filepath.Join(l.dir, name+".conf"))
	c, r := l.takeSeat("dave/pc")
	defer c.Close()
	if ans := l.discover(); !strings.HasPrefix(ans, "LICSIM") {
		t.Fatalf("discovery: %q", ans)
	}
	l.checkMetrics("tun")
	l.cli("device", "revoke", "dave", "pc")
	expectClosed(t, c, r)
	if !l.srv.WaitInUse(0, 10*time.Second) {
		t.Fatal("seat not freed")
	}
}

// TestKernelModeViaUAPI: licgate configures an existing WireGuard
// interface through wgctrl. CI kernels have no WireGuard module, so the
// interface is wireguard-go's, driven over its UAPI socket: the same
// wgctrl calls. Peers are added and removed while it runs.
func TestKernelModeViaUAPI(t *testing.T) {
	iface := tunName("lgk")
	l := newLab(t, fmt.Sprintf("tunnel:\n  mode: kernel\n  interface: %s\n  listen_port: 51820\n  endpoint: 10.99.0.1\n", iface), func(l *lab) {
		if out, err := l.office.TryRun(wgEnv, "wireguard-go", iface); err != nil {
			t.Fatalf("wireguard-go: %v\n%s", err, out)
		}
		t.Cleanup(func() { os.Remove("/var/run/wireguard/" + iface + ".sock") })
		l.office.Run("ip", "addr", "add", "10.44.0.1/24", "dev", iface)
		l.office.Run("ip", "link", "set", iface, "up")
	})
	l.cli("user", "add", "erin")
	a, b := tunName("lgh"), tunName("lgi")
	l.cli("device", "add", "erin", "laptop", "--out", filepath.Join(l.dir, a), "--no-qr")
	l.wgUp(filepath.Join(l.dir, a+".conf"))
	c, r := l.takeSeat("erin/laptop")
	defer c.Close()
	if peers := l.office.Run("wg", "show", iface, "peers"); strings.Count(peers, "=") != 1 {
		t.Fatalf("interface peers: %s", peers)
	}
	l.checkMetrics("kernel")
	// A second device added live appears on the interface.
	l.cli("device", "add", "erin", "desktop", "--out", filepath.Join(l.dir, b), "--no-qr")
	if peers := l.office.Run("wg", "show", iface, "peers"); strings.Count(peers, "=") != 2 {
		t.Fatalf("peer not added live: %s", peers)
	}
	l.cli("device", "revoke", "erin", "laptop")
	expectClosed(t, c, r)
	if !l.srv.WaitInUse(0, 10*time.Second) {
		t.Fatal("seat not freed")
	}
	if peers := l.office.Run("wg", "show", iface, "peers"); strings.Count(peers, "=") != 1 {
		t.Fatalf("peer not removed live: %s", peers)
	}
}

// TestModeStartErrors: `licgate serve` says why a mode cannot start and
// how to fix it.
func TestModeStartErrors(t *testing.T) {
	netnstest.Require(t, "setpriv")
	ns := netnstest.New(t, "err")
	dir := t.TempDir()
	serve := func(tunnelYAML string, prefix ...string) string {
		cfg := filepath.Join(dir, "licgate.yaml")
		os.WriteFile(cfg, []byte(fmt.Sprintf("state_dir: %s\n%s", dir, tunnelYAML)), 0o600)
		args := append(append([]string{}, prefix...), licgateBin, "serve", "-c", cfg)
		out, err := ns.TryRun(nil, args...)
		if err == nil {
			t.Fatalf("serve started:\n%s", out)
		}
		return out
	}
	out := serve("tunnel:\n  mode: kernel\n  interface: nosuch0\n")
	for _, want := range []string{`no WireGuard interface "nosuch0"`, "ip link add dev nosuch0 type wireguard", "tunnel.mode: netstack"} {
		if !strings.Contains(out, want) {
			t.Errorf("kernel mode without interface: %q lacks %q", out, want)
		}
	}
	out = serve("tunnel:\n  mode: tun\n", "setpriv", "--bounding-set", "-net_admin", "--inh-caps", "-net_admin")
	for _, want := range []string{"needs CAP_NET_ADMIN", "setcap cap_net_admin+ep", "tunnel.mode: netstack"} {
		if !strings.Contains(out, want) {
			t.Errorf("tun mode without CAP_NET_ADMIN: %q lacks %q", out, want)
		}
	}
	// The port is taken (by another WireGuard, say).
	var pc net.PacketConn
	ns.Do(func() {
		var err error
		if pc, err = net.ListenPacket("udp", "0.0.0.0:51820"); err != nil {
			t.Fatal(err)
		}
	})
	defer pc.Close()
	out = serve("tunnel:\n  listen_port: 51820\n")
	if !strings.Contains(out, "UDP port 51820 is taken") || !strings.Contains(out, "tunnel.listen_port") {
		t.Errorf("port in use: %q", out)
	}
}

// checkMetrics scrapes /metrics in a tun or kernel mode lab: it answers,
// and the netstack's ACK counters are not there.
func (l *lab) checkMetrics(mode string) {
	l.t.Helper()
	var metrics []byte
	if err := l.api.DoRaw(context.Background(), "GET", "/metrics", &metrics); err != nil || !strings.Contains(string(metrics), "licgate_sessions_active") {
		l.t.Fatalf("metrics in %s mode: %v\n%.300s", mode, err, metrics)
	}
	if strings.Contains(string(metrics), "licgate_tunnel_acks_total") {
		l.t.Errorf("%s mode reports netstack ACK counters", mode)
	}
}
