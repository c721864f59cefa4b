package clustertest

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licgate/licgate/internal/netnstest"
	"github.com/licgate/licgate/internal/testnet"
)

// Addresses used in the namespaces (a documentation-free private range).
var (
	AddrA = netip.MustParseAddr("192.168.77.2")
	AddrB = netip.MustParseAddr("192.168.77.3")
	VIP   = netip.MustParseAddr("192.168.77.5")
)

// The home device sits behind the office router, as on the Internet:
// RouterLAN is the router on the gateways' LAN (their default route),
// AddrHome the home device's address on the router's other side.
var (
	RouterLAN  = netip.MustParseAddr("192.168.77.1")
	RouterHome = netip.MustParseAddr("198.51.100.1")
	AddrHome   = netip.MustParseAddr("198.51.100.10")
)

// VRRPOptions tune NewVRRP; the zero value is fine.
type VRRPOptions struct {
	// ConfigDir holds keepalived-a.conf, keepalived-b.conf. If empty,
	// the repository's deploy/keepalived.
	ConfigDir string
	// Check, if set, is the shell command of gateway i's health check
	// (exit 0: healthy). If nil, a file that SetHealthy creates/removes.
	Check func(i int) string
}

// VRRPPair is a LAN (a bridge in its own namespace) with gateway A,
// gateway B and the office router on it, a home device behind the
// router, and one keepalived per gateway sharing VIP.
type VRRPPair struct {
	LAN, Router, Home *netnstest.NS
	GW                [2]*netnstest.NS
	NS                [2]string // the gateways' namespace names
	dir               string
	cmds              [2]*exec.Cmd
	logs              [2]*bytes.Buffer
	conf              [2]string
}

// RepoDir is the repository root (for deploy/keepalived).
func RepoDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Need reports (through testnet.Missing) when the tools are absent.
func Need(tb testing.TB, tools ...string) bool {
	tb.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			testnet.Missing(tb, "clustertest: %s not installed: %v", tool, err)
			return false
		}
	}
	if os.Geteuid() != 0 {
		testnet.Missing(tb, "clustertest: network namespaces need root")
		return false
	}
	return true
}

func run(tb testing.TB, args ...string) {
	tb.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		tb.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// RenderConfig reads deploy/keepalived/keepalived-<role>.conf from dir
// and rewrites its addresses and check script for the test network.
func RenderConfig(dir, role, checkScript string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "keepalived-"+role+".conf"))
	if err != nil {
		return "", err
	}
	return RenderConfigString(string(b), checkScript)
}

// RenderConfigString is RenderConfig on a configuration's text.
func RenderConfigString(conf, checkScript string) (string, error) {
	return strings.NewReplacer(
		"192.168.1.1", RouterLAN.String(),
		"192.168.1.2", AddrA.String(),
		"192.168.1.3", AddrB.String(),
		"192.168.1.5", VIP.String(),
		"/usr/local/lib/licgate/licgate-check.sh", checkScript,
		"/usr/local/lib/licgate/licgate-notify.sh", filepath.Join(filepath.Dir(checkScript), "licgate-notify.sh"),
	).Replace(conf), nil
}

// CopyNotifyScript copies deploy/keepalived/licgate-notify.sh into dir,
// where RenderConfig's configurations expect it (beside the check script).
func CopyNotifyScript(configDir, dir string) error {
	b, err := os.ReadFile(filepath.Join(configDir, "licgate-notify.sh"))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "licgate-notify.sh"), b, 0o755)
}

// StartVRRP is NewVRRP and StartKeepalived.
func StartVRRP(tb testing.TB, o VRRPOptions) *VRRPPair {
	tb.Helper()
	p := NewVRRP(tb, o)
	if p != nil {
		p.StartKeepalived(tb)
	}
	return p
}

// NewVRRP builds the LAN: namespaces for the bridge, gateways A and B
// and the home device, each with eth0 on the bridge, and renders the
// example configs for it (checked with keepalived --config-test).
// Everything is removed in tb.Cleanup.
func NewVRRP(tb testing.TB, o VRRPOptions) *VRRPPair {
	tb.Helper()
	if !Need(tb, "ip", "keepalived") {
		return nil
	}
	if o.ConfigDir == "" {
		o.ConfigDir = filepath.Join(RepoDir(), "deploy", "keepalived")
	}
	dir, err := os.MkdirTemp("", "postgres-vrrp-")
	if err != nil {
		tb.Fatal(err)
	}
	p := &VRRPPair{dir: dir}
	p.LAN = netnstest.New(tb, "postgres-lan")
	p.GW[0] = netnstest.New(tb, "postgres-a")
	p.GW[1] = netnstest.New(tb, "postgres-b")
	p.Router = netnstest.New(tb, "postgres-rt")
	p.Home = netnstest.New(tb, "postgres-home")
	p.NS = [2]string{p.GW[0].Name, p.GW[1].Name}
	tb.Cleanup(func() {
		for i := range p.cmds {
			p.Kill(i)
		}
		os.RemoveAll(dir)
	})
	p.LAN.Run("ip", "link", "add", "br0", "type", "bridge")
	p.LAN.Run("ip", "link", "set", "br0", "up")
	for i, h := range []*netnstest.NS{p.GW[0], p.GW[1], p.Router} {
		port := fmt.Sprintf("p%d", i)
		p.LAN.Run("ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.Name)
		p.LAN.Run("ip", "link", "set", port, "master", "br0", "up")
		addr := []netip.Addr{AddrA, AddrB, RouterLAN}[i]
		h.Run("ip", "addr", "add", addr.String()+"/24", "dev", "eth0")
		h.Run("ip", "link", "set", "eth0", "up")
		if i < 2 {
			h.Run("ip", "route", "add", "default", "via", RouterLAN.String(), "dev", "eth0")
		}
	}
	// The router forwards between the LAN and the home side.
	p.Router.Run("ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", p.Home.Name)
	p.Router.Run("ip", "addr", "add", RouterHome.String()+"/24", "dev", "eth1")
	p.Router.Run("ip", "link", "set", "eth1", "up")
	p.Router.Run("sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward") // no procps needed
	p.Home.Run("ip", "addr", "add", AddrHome.String()+"/24", "dev", "eth0")
	p.Home.Run("ip", "link", "set", "eth0", "up")
	p.Home.Run("ip", "route", "add", "default", "via", RouterHome.String())
	if err := CopyNotifyScript(o.ConfigDir, dir); err != nil {
		tb.Fatal(err)
	}
	for i, role := range []string{"a", "b"} {
		script := filepath.Join(dir, "check-"+role+".sh")
		check := "test -e " + filepath.Join(dir, "healthy-"+role)
		if o.Check != nil {
			check = o.Check(i)
		}
		os.WriteFile(script, []byte("#!/bin/sh\n"+check+"\n"), 0o755)
		p.SetHealthy(i, true)
		conf, err := RenderConfig(o.ConfigDir, role, script)
		if err != nil {
			tb.Fatal(err)
		}
		p.conf[i] = filepath.Join(dir, "keepalived-"+role+".conf")
		if err := os.WriteFile(p.conf[i], []byte(conf), 0o600); err != nil {
			tb.Fatal(err)
		}
		if out, err := p.GW[i].TryRun(nil, "keepalived", "--config-test", "-f", p.conf[i]); err != nil {
			tb.Fatalf("keepalived --config-test %s: %v\n%s", role, err, out)
		}
	}
	return p
}

// StartKeepalived starts keepalived on A, waits until A holds the VIP,
// then starts B.
func (p *VRRPPair) StartKeepalived(tb testing.TB) {
	tb.Helper()
	p.Start(tb, 0)
	p.WaitHolder(tb, 0, 15*time.Second)
	p.Start(tb, 1)
}

// Start runs keepalived i in the foreground of its namespace.
func (p *VRRPPair) Start(tb testing.TB, i int) {
	tb.Helper()
	role := []string{"a", "b"}[i]
	pid := func(what string) string { return filepath.Join(p.dir, role+"-"+what+".pid") }
	c := exec.Command("ip", "netns", "exec", p.NS[i], "keepalived", "--dont-fork", "--log-console", "--vrrp",
		"-f", p.conf[i], "--pid", pid("main"), "--vrrp_pid", pid("vrrp"), "--checkers_pid", pid("checkers"))
	p.logs[i] = &bytes.Buffer{}
	c.Stdout, c.Stderr = p.logs[i], p.logs[i]
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		tb.Fatalf("keepalived %s: %v", role, err)
	}
	p.cmds[i] = c
}

// Log is keepalived i's output so far.
func (p *VRRPPair) Log(i int) string {
	if p.logs[i] == nil {
		return ""
	}
	return p.logs[i].String()
}

// Kill kills keepalived i and its children at once (SIGKILL to its
// process group): the VIP stays configured in its namespace, as on a
// box that froze, and only the other side's takeover moves traffic.
func (p *VRRPPair) Kill(i int) {
	c := p.cmds[i]
	if c == nil || c.Process == nil {
		return
	}
	syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	c.Wait()
	p.cmds[i] = nil
}

// SetHealthy makes gateway i's health check pass or fail.
func (p *VRRPPair) SetHealthy(i int, ok bool) {
	flag := filepath.Join(p.dir, "healthy-"+[]string{"a", "b"}[i])
	if ok {
		os.WriteFile(flag, nil, 0o600)
	} else {
		os.Remove(flag)
	}
}

// Holds reports whether namespace i has the VIP on eth0.
func (p *VRRPPair) Holds(i int) bool {
	out, err := exec.Command("ip", "-n", p.NS[i], "-br", "addr", "show", "dev", "eth0").Output()
	return err == nil && strings.Contains(" "+string(out)+" ", " "+VIP.String()+"/")
}

// WaitHolder waits until namespace i holds the VIP (and, when the other
// keepalived runs, the other does not), and says how long that took.
func (p *VRRPPair) WaitHolder(tb testing.TB, i int, timeout time.Duration) time.Duration {
	tb.Helper()
	start := time.Now()
	for {
		other := 1 - i
		if p.Holds(i) && (p.cmds[other] == nil || !p.Holds(other)) {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			tb.Fatalf("VIP not on %s after %v\nkeepalived a:\n%s\nkeepalived b:\n%s", p.NS[i], timeout, p.Log(0), p.Log(1))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SourceIsVIP reports whether gateway i's default route carries the VIP
// as source (licgate-notify.sh ran for MASTER).
func (p *VRRPPair) SourceIsVIP(i int) bool {
	out, err := exec.Command("ip", "-n", p.NS[i], "-4", "route", "show", "default").Output()
	return err == nil && strings.Contains(string(out), "src "+VIP.String())
}

// HasDefaultRoute reports whether gateway i has a default route (the
// standby must keep one after the VIP, and a route using it, left).
func (p *VRRPPair) HasDefaultRoute(i int) bool {
	out, err := exec.Command("ip", "-n", p.NS[i], "-4", "route", "show", "default").Output()
	return err == nil && strings.Contains(string(out), "default via "+RouterLAN.String())
}

// String names the pair for logs.
func (p *VRRPPair) String() string { return fmt.Sprintf("vrrp %s/%s", p.NS[0], p.NS[1]) }
