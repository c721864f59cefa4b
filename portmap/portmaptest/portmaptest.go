// Package portmaptest builds an office network behind a real home router
// for tests: three network namespaces, "internet", "router" (Debian's
// miniupnpd with PCP, NAT-PMP and UPnP IGD over nftables) and "office"
// (default route via the router). A test maps a port from the office and
// proves it by sending from the internet to the router's WAN address.
//
// It needs root, iproute2, nftables and miniupnpd (.ci/apt.d/portmap.txt);
// without them the test skips, or fails under CI.
package portmaptest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/licgate/licgate/internal/netnstest"
	"github.com/licgate/licgate/internal/testnet"
)

// Addresses of the test network. The office LAN is 192.168.1.0/24, one of
// the ranges in the example permission rules of Debian's miniupnpd.conf
// (commented out there; Options.ACL turns such rules on). The WAN
// interface has a documentation address; miniupnpd refuses reserved
// ranges as its external address, so it is told to advertise Public (as
// a router behind a 1:1 NAT would, with ext_ip=): that address is never
// the source or target of a packet.
var (
	WAN      = netip.MustParseAddr("203.0.113.1") // router, internet side
	Internet = netip.MustParseAddr("203.0.113.2") // a host on the internet
	Public   = netip.MustParseAddr("100.128.0.1") // what the router says its address is
	LAN      = netip.MustParseAddr("192.168.1.1") // router, office side (the gateway)
	Office   = netip.MustParseAddr("192.168.1.10")
	// LANPrefix is the office network.
	LANPrefix = netip.MustParsePrefix("192.168.1.0/24")
)

// DebianConf is the miniupnpd.conf Debian's package ships.
const DebianConf = "/usr/share/miniupnpd/miniupnpd.conf"

// UsualACL is the permission rule set most routers' miniupnpd runs with
// (OpenWrt's default, the examples in Debian's file): LAN hosts may map
// ports 1024-65535 to ports 1024-65535, nothing else.
var UsualACL = []string{
	"allow 1024-65535 " + LANPrefix.String() + " 1024-65535",
	"deny 0-65535 0.0.0.0/0 0-65535",
}

// Options change the router. The zero value is Debian's miniupnpd as
// installed: its shipped configuration file with only what the package's
// installation asks for filled in (the external interface, the listening
// interface) and a uuid (the package's postinst makes one). That is UPnP
// IGD only (NAT-PMP and PCP are off in it) with no permission rules
// (every example rule is commented out).
type Options struct {
	// PXP turns NAT-PMP and PCP on (enable_natpmp=yes), as an admin
	// (or OpenWrt's "Start UPnP and NAT-PMP service") does, and counts
	// the epoch from the daemon's start (system_uptime=no) so that Reboot
	// resets it.
	PXP bool
	// NoUPnP disables UPnP IGD (enable_upnp=no).
	NoUPnP bool
	// ACL adds permission rules (allow/deny lines) at the end of the
	// file, for example UsualACL.
	ACL []string
}

// Router is the three-namespace network with miniupnpd.
type Router struct {
	Internet, Router, Office *netnstest.NS
	tb                       testing.TB
	dir, conf                string
	cmd                      *exec.Cmd
	exited                   chan struct{}
	log                      *os.File
}

// New builds the network and starts miniupnpd.
func New(tb testing.TB, opt Options) *Router {
	tb.Helper()
	netnstest.Require(tb, "nft", "miniupnpd")
	shipped, err := os.ReadFile(DebianConf)
	if err != nil {
		testnet.Missing(tb, "Debian's miniupnpd.conf: %v (package miniupnpd)", err)
	}
	r := &Router{tb: tb, dir: tb.TempDir()}
	r.Internet = netnstest.New(tb, "pm-inet")
	r.Router = netnstest.New(tb, "pm-rtr")
	r.Office = netnstest.New(tb, "pm-off")
	_, wan := netnstest.Link(tb, r.Internet, r.Router, Internet.String()+"/24", WAN.String()+"/24")
	lan, _ := netnstest.Link(tb, r.Router, r.Office, LAN.String()+"/24", Office.String()+"/24")
	r.Office.Run("ip", "route", "add", "default", "via", LAN.String())
	r.Router.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")

	// The chains of Debian's nft_init.sh (with the names miniupnpd
	// defaults to), plus what makes the namespace a router: LAN to WAN
	// forwarding and masquerading.
	rules := fmt.Sprintf(`table inet filter {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname %q accept
    jump miniupnpd
  }
  chain miniupnpd {
  }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
    oifname %q masquerade
  }
  chain prerouting_miniupnpd {
  }
  chain postrouting_miniupnpd {
  }
}
`, lan, wan)
	write(tb, filepath.Join(r.dir, "rules.nft"), rules)
	r.Router.Run("nft", "-f", filepath.Join(r.dir, "rules.nft"))

	r.conf = filepath.Join(r.dir, "miniupnpd.conf")
	write(tb, r.conf, Conf(string(shipped), wan, lan, opt))
	r.Start()
	tb.Cleanup(r.Stop)
	return r
}

// Conf is Debian's shipped miniupnpd.conf as its installation leaves it
// (ext_ifname and listening_ip answered, a uuid made), with ext_ip set
// to Public (the test's WAN address is a reserved one) and opt applied.
func Conf(shipped, wan, lan string, opt Options) string {
	var b strings.Builder
	for _, line := range strings.Split(shipped, "\n") {
		switch {
		case strings.HasPrefix(line, "uuid="):
			line = "uuid=" + uuid()
		case opt.PXP && strings.HasPrefix(line, "system_uptime="):
			line = "system_uptime=no" // see Options.PXP
		case strings.HasPrefix(line, "ext_ifname=") || strings.HasPrefix(line, "listening_ip="):
			line = "#" + line // as postinst's remove_config_all
		}
		b.WriteString(line + "\n")
	}
	// What Debian's postinst appends from the debconf answers.
	fmt.Fprintf(&b, "listening_ip=%s\next_ifname=%s\n", lan, wan)
	fmt.Fprintf(&b, "ext_ip=%s\n", Public)
	if opt.PXP {
		// system_uptime=no: the PCP/NAT-PMP epoch counts from the
		// daemon's start, so Reboot (a daemon restart; the namespace
		// cannot reboot the kernel) resets it as a real reboot would.
		b.WriteString("enable_natpmp=yes\n")
	}
	if opt.NoUPnP {
		b.WriteString("enable_upnp=no\n")
	}
	for _, rule := range opt.ACL {
		b.WriteString(rule + "\n")
	}
	return b.String()
}

func write(tb testing.TB, path, s string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func uuid() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/uuid")
	if err != nil {
		return "6f1c3a52-7a39-4e4b-9d0e-000000000001"
	}
	return strings.TrimSpace(string(b))
}

// Start runs miniupnpd in the foreground (-d) in the router namespace and
// waits until it listens on port 5351 (or, without NAT-PMP, 1900).
func (r *Router) Start() {
	r.tb.Helper()
	log, err := os.OpenFile(filepath.Join(r.dir, "miniupnpd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		r.tb.Fatal(err)
	}
	r.log = log
	r.cmd = r.Router.Cmd("miniupnpd", "-f", r.conf, "-d", "-P", filepath.Join(r.dir, "miniupnpd.pid"))
	r.cmd.Stdout, r.cmd.Stderr = log, log
	if err := r.cmd.Start(); err != nil {
		r.tb.Fatalf("start miniupnpd: %v", err)
	}
	r.exited = make(chan struct{})
	go func(c *exec.Cmd, ch chan struct{}) { c.Wait(); close(ch) }(r.cmd, r.exited)
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := r.Router.TryRun(nil, "ss", "-lnup")
		if strings.Contains(out, "miniupnpd") && (strings.Contains(out, ":5351") || strings.Contains(out, ":1900")) {
			return
		}
		select {
		case <-r.exited:
			r.tb.Fatalf("miniupnpd exited:\n%s", r.Log())
		default:
		}
		if time.Now().After(deadline) {
			r.tb.Fatalf("miniupnpd did not start listening:\n%s", r.Log())
		}
		time.Sleep(50 * time.Millisecond) // polling for a listening socket
	}
}

// Stop ends miniupnpd (SIGTERM, as a router shutting down) and waits.
func (r *Router) Stop() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(5 * time.Second):
		r.cmd.Process.Kill()
		<-r.exited
	}
	r.cmd = nil
	r.log.Close()
}

// Reboot stops miniupnpd, flushes its chains (a rebooted router has no
// forwarding left) and starts it again: it has forgotten every mapping
// and its epoch starts again from 0.
func (r *Router) Reboot() {
	r.tb.Helper()
	r.Stop()
	r.Forget()
	if rules := r.Rules(); strings.Contains(rules, "dnat") {
		r.tb.Fatalf("forwarding survived the reboot:\n%s", rules)
	}
	r.Start()
}

// Forget removes the forwarding rules behind miniupnpd's back, as an
// administrator deleting the entry in the router's web page would.
func (r *Router) Forget() {
	r.tb.Helper()
	for _, c := range []string{"miniupnpd", "prerouting_miniupnpd", "postrouting_miniupnpd"} {
		r.Router.Run("nft", "flush", "chain", "inet", "filter", c)
	}
}

// Log returns miniupnpd's output so far.
func (r *Router) Log() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "miniupnpd.log"))
	return string(b)
}

// Rules returns the router's forwarding rules for port mappings.
func (r *Router) Rules() string {
	out, _ := r.Router.TryRun(nil, "nft", "list", "chain", "inet", "filter", "prerouting_miniupnpd")
	return out
}

// In runs fn on a thread inside ns, so the sockets it opens live there.
func In(ns *netnstest.NS, fn func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := os.Open(filepath.Join("/var/run/netns", ns.Name))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", ns.Name, err)
	}
	defer func() {
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else the thread dies with the goroutine
	}()
	return fn()
}

// Dial opens connections from inside ns (for portmap.Config.Dial).
func Dial(ns *netnstest.NS) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (c net.Conn, err error) {
		e := In(ns, func() error {
			c, err = (&net.Dialer{}).DialContext(ctx, network, address)
			return nil
		})
		if e != nil {
			return nil, e
		}
		return c, err
	}
}

// ListenPacket opens sockets inside ns (for portmap.Config.ListenPacket).
func ListenPacket(ns *netnstest.NS) func(ctx context.Context, network, address string) (net.PacketConn, error) {
	return func(ctx context.Context, network, address string) (c net.PacketConn, err error) {
		e := In(ns, func() error {
			c, err = (&net.ListenConfig{}).ListenPacket(ctx, network, address)
			return nil
		})
		if e != nil {
			return nil, e
		}
		return c, err
	}
}
