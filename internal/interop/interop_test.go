package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/licgate/licgate/adminapi"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/licgate/licgate/internal/licsim"
	"github.com/licgate/licgate/internal/netnstest"
)

var licgateBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lgbin")
	if err != nil {
		panic(err)
	}
	licgateBin = filepath.Join(dir, "licgate")
	if os.Geteuid() == 0 {
		out, err := exec.Command("go", "build", "-o", licgateBin, "github.com/licgate/licgate/cmd/licgate").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build licgate: %v\n%s", err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var wgEnv = []string{"WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go", "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1"}

// lab is an office and a home joined by a veth pair, with the stand-in
// license server and licgate in the office.
type lab struct {
	t            *testing.T
	office, home *netnstest.NS
	officeIf     string
	srv          *licsim.Server
	dir          string
	socket       string
	api          *adminapi.Client
	logs         *syncBuffer
	proc         *exec.Cmd
	// serviceYAML, if set by newLab's before hook, is added to the
	// codemeter service block (keys indented by four spaces).
	serviceYAML string
	// policyYAML, if set by newLab's before hook, replaces the policy
	// block (allow everyone).
	policyYAML string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// newLab starts everything; tunnelYAML replaces the tunnel block.
func newLab(t *testing.T, tunnelYAML string, before func(l *lab)) *lab {
	netnstest.Require(t, "wg", "wg-quick", "wireguard-go")
	l := &lab{t: t, dir: t.TempDir(), logs: &syncBuffer{}}
	l.office = netnstest.New(t, "office")
	l.home = netnstest.New(t, "home")
	l.officeIf, _ = netnstest.Link(t, l.office, l.home, "10.99.0.1/24", "10.99.0.2/24")
	l.srv = &licsim.Server{Seats: 3, Name: "office"}
	l.office.Do(func() {
		if err := l.srv.Listen("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { l.srv.Close() })
	if before != nil {
		before(l)
	}
	l.socket = filepath.Join(l.dir, "licgate.sock")
	policy := l.policyYAML
	if policy == "" {
		policy = "policy:\n  rules:\n    - {action: allow, who: [\"*\"]}\n"
	}
	cfg := fmt.Sprintf(`state_dir: %s
log_level: debug
%s
services:
  - name: codemeter
    port: 22350
    upstream: %s
%s%s`, l.dir, tunnelYAML, l.srv.Addr(), l.serviceYAML, policy)
	os.WriteFile(filepath.Join(l.dir, "licgate.yaml"), []byte(cfg), 0o600)
	l.proc = l.office.Cmd(licgateBin, "serve", "-c", filepath.Join(l.dir, "licgate.yaml"))
	l.proc.Stdout, l.proc.Stderr = l.logs, l.logs
	if err := l.proc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.proc.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { l.proc.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			l.proc.Process.Kill()
		}
		if t.Failed() {
			t.Logf("licgate log:\n%s", l.logs.String())
		}
	})
	l.api = adminapi.NewClient(l.socket)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var h adminapi.Health
		if err := l.api.Do(context.Background(), "GET", "/api/v1/health", nil, &h); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("licgate did not start:\n%s", l.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return l
}

// cli runs the licgate CLI against the lab's daemon.
func (l *lab) cli(args ...string) string {
	l.t.Helper()
	c := exec.Command(licgateBin, args...)
	c.Env = append(os.Environ(), "LICGATE_SOCKET="+l.socket)
	out, err := c.CombinedOutput()
	if err != nil {
		l.t.Fatalf("licgate %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var tunSeq int

// tunName is a unique wg interface name (wg-quick takes it from the file name).
func tunName(prefix string) string {
	tunSeq++
	return fmt.Sprintf("%s%d%d", prefix, os.Getpid()%10000, tunSeq)
}

// wgUp brings a profile up in the home namespace with wg-quick and
// wireguard-go, and takes it down in cleanup.
func (l *lab) wgUp(conf string) {
	l.t.Helper()
	if out, err := l.home.TryRun(wgEnv, "wg-quick", "up", conf); err != nil {
		l.t.Fatalf("wg-quick up %s: %v\n%s", conf, err, out)
	}
	name := strings.TrimSuffix(filepath.Base(conf), ".conf")
	l.t.Cleanup(func() {
		l.home.TryRun(wgEnv, "wg-quick", "down", conf)
		os.Remove("/var/run/wireguard/" + name + ".sock")
	})
}

// dial connects from the home namespace.
func (l *lab) dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	var err error
	l.home.Do(func() { c, err = net.DialTimeout(network, addr, timeout) })
	return c, err
}

// takeSeat connects from home to the gateway's codemeter port and says HELLO.
func (l *lab) takeSeat(who string) (net.Conn, *bufio.Reader) {
	l.t.Helper()
	c, err := l.dial("tcp", "10.44.0.1:22350", 10*time.Second)
	if err != nil {
		l.t.Fatalf("%s: connect through the tunnel: %v", who, err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "HELLO %s\n", who)
	r := bufio.NewReader(c)
	ans, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(ans, "OK ") {
		l.t.Fatalf("%s: HELLO answered %q %v", who, ans, err)
	}
	c.SetDeadline(time.Time{})
	return c, r
}

func (l *lab) discover() string {
	l.t.Helper()
	c, err := l.dial("udp", "10.44.0.1:22350", 5*time.Second)
	if err != nil {
		l.t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 512)
	for i := 0; i < 5; i++ {
		c.Write([]byte("DISCOVER"))
		c.SetReadDeadline(time.Now().Add(time.Second))
		if n, err := c.Read(buf); err == nil {
			return string(buf[:n])
		}
	}
	l.t.Fatal("no UDP discovery answer through the tunnel")
	return ""
}

// expectClosed waits for the gateway to close c.
func expectClosed(t *testing.T, c net.Conn, r *bufio.Reader) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, err := r.ReadString('\n'); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the revoked device's connection stayed open")
			}
			return
		}
	}
}

const netstackTunnel = "tunnel:\n  listen_port: 51820\n  endpoint: 10.99.0.1\n"

// TestWgQuickProfileAndQR: the profile the CLI writes, and what its QR
// code holds, both come up with Debian's wg-quick; a seat is taken over
// TCP, discovery answers over UDP, and revoking cuts the session and
// frees the seat.
func TestWgQuickProfileAndQR(t *testing.T) {
	l := newLab(t, netstackTunnel, nil)
	l.cli("user", "add", "alice")
	name := tunName("lgh")
	out := l.cli("device", "add", "alice", "laptop", "--out", filepath.Join(l.dir, name), "--no-qr")
	if !strings.Contains(out, name+".conf") || !strings.Contains(out, name+"-linux.sh") {
		t.Fatalf("device add: %s", out)
	}
	conf := filepath.Join(l.dir, name+".conf")
	l.wgUp(conf)
	c, r := l.takeSeat("alice/laptop")
	defer c.Close()
	if l.srv.InUse() != 1 {
		t.Fatalf("seats in use %d", l.srv.InUse())
	}
	if ans := l.discover(); !strings.HasPrefix(ans, "LICSIM name=office inuse=1/3") {
		t.Fatalf("discovery: %q", ans)
	}
	fmt.Fprintf(c, "PING wg\n")
	if ans, err := r.ReadString('\n'); err != nil || ans != "PONG wg\n" {
		t.Fatalf("heartbeat: %q %v", ans, err)
	}
	peers := l.cli("peers")
	if !strings.Contains(peers, "laptop") || strings.Contains(peers, "never") {
		t.Fatalf("peers: %s", peers)
	}
	if out := l.cli("device", "revoke", "alice", "laptop"); !strings.Contains(out, "live session(s) cut") {
		t.Fatalf("revoke: %s", out)
	}
	expectClosed(t, c, r)
	if !l.srv.WaitInUse(0, 10*time.Second) {
		t.Fatalf("seat not freed after revoke: %d", l.srv.InUse())
	}
	if c2, err := l.dial("tcp", "10.44.0.1:22350", 3*time.Second); err == nil {
		c2.Close()
		t.Fatal("revoked device connected again")
	}
	if out, err := l.home.TryRun(wgEnv, "wg-quick", "down", conf); err != nil {
		t.Fatalf("wg-quick down: %v\n%s", err, out)
	}

	// The QR code: decode the PNG the CLI wrote and bring up exactly that.
	qrName := tunName("lgq")
	l.cli("device", "add", "alice", "phone", "--out", filepath.Join(l.dir, qrName), "--no-qr")
	f, err := os.Open(filepath.Join(l.dir, qrName+".png"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	bmp, _ := gozxing.NewBinaryBitmapFromImage(img)
	res, err := qrcode.NewQRCodeReader().Decode(bmp, pureBarcode)
	if err != nil {
		t.Fatal(err)
	}
	qrDir := t.TempDir()
	qrConf := filepath.Join(qrDir, qrName+".conf")
	os.WriteFile(qrConf, []byte(res.GetText()), 0o600)
	l.wgUp(qrConf)
	c3, _ := l.takeSeat("alice/phone")
	c3.Close()
	if !l.srv.WaitInUse(0, 10*time.Second) {
		t.Fatal("seat not freed after close")
	}
}

// pureBarcode tells the decoder the image is the code alone, as ours is
// (gozxing's finder-pattern detector misses a few percent of clean codes).
var pureBarcode = map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_PURE_BARCODE: true}

// rxPackets reads how many packets an interface in the home namespace has
// received.
func (l *lab) rxPackets(ifname string) int {
	l.t.Helper()
	out := l.home.Run("ip", "-s", "-j", "link", "show", "dev", ifname)
	var links []struct {
		Stats struct {
			Rx struct {
				Packets int `json:"packets"`
			} `json:"rx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		l.t.Fatalf("ip -s -j link show %s: %v\n%s", ifname, err, out)
	}
	return links[0].Stats.Rx.Packets
}

// TestDelayedAckWithKernelClient: a Linux kernel TCP client (wg-quick with
// Debian's wireguard-go) gets one packet per license answer from the
// netstack gateway, the acknowledgment riding on the answer; with
// tunnel.ack_delay 0 it gets two (a bare ACK, then the answer).
func TestDelayedAckWithKernelClient(t *testing.T) {
	const n = 60
	for _, tc := range []struct {
		yaml     string
		min, max int
	}{
		{netstackTunnel, n, n + n/5},
		{netstackTunnel + "  ack_delay: 0\n", n + n/2, 2*n + n/5},
	} {
		l := newLab(t, tc.yaml, nil)
		l.cli("user", "add", "alice")
		name := tunName("lga")
		l.cli("device", "add", "alice", "laptop", "--out", filepath.Join(l.dir, name), "--no-qr")
		l.wgUp(filepath.Join(l.dir, name+".conf"))
		c, r := l.takeSeat("alice/laptop")
		c.SetDeadline(time.Now().Add(30 * time.Second))
		before := l.rxPackets(name)
		for i := range n {
			fmt.Fprintf(c, "PING %d\n", i)
			if ans, err := r.ReadString('\n'); err != nil || ans != fmt.Sprintf("PONG %d\n", i) {
				t.Fatalf("heartbeat %d: %q %v", i, ans, err)
			}
		}
		got := l.rxPackets(name) - before
		t.Logf("%q: %d packets to the home device for %d answers", strings.TrimSpace(tc.yaml), got, n)
		if got < tc.min || got > tc.max {
			t.Errorf("%q: %d packets to the home device for %d answers, want %d-%d", strings.TrimSpace(tc.yaml), got, n, tc.min, tc.max)
		}
		c.Close()
	}
}
