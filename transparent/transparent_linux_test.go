//go:build linux

package transparent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/licgate/licgate/internal/netnstest"
)

// The test network: the gateway ("office") and the license server stand-in
// ("lan") on one veth link. The lan routes the tunnel subnet back via the
// office when the test asks for it, as the admin would on the real LAN.
const (
	officeIP = "192.0.2.1"
	lanIP    = "192.0.2.10"
)

var subnet = netip.MustParsePrefix("10.44.0.0/24")

type testNet struct {
	office, lan     *netnstest.NS
	officeIf, lanIf string
}

func newNet(t *testing.T, returnRoute bool) *testNet {
	t.Helper()
	netnstest.Require(t)
	n := &testNet{office: netnstest.New(t, "transp-office"), lan: netnstest.New(t, "transp-lan")}
	n.officeIf, n.lanIf = netnstest.Link(t, n.office, n.lan, officeIP+"/24", lanIP+"/24")
	if returnRoute {
		n.lan.Run("ip", "route", "add", subnet.String(), "via", officeIP)
	}
	// Strict reverse-path filtering, as some distributions ship it: the
	// replies must pass it.
	n.office.Run("sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=1", "net.ipv4.conf."+n.officeIf+".rp_filter=1")
	return n
}

// setup runs Setup in the office and undoes it when the test ends.
func (n *testNet) setup(t *testing.T, r Routing) {
	t.Helper()
	var teardown func() error
	var err error
	n.office.Do(func() { teardown, err = Setup(r) })
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() { n.office.Do(func() { teardown() }) })
}

// peerServer is the license server stand-in: over TCP it first writes the
// peer address it saw on a line, then echoes; over UDP it answers each
// datagram with "<peer> <payload>".
type peerServer struct {
	tcp  net.Listener
	udp  net.PacketConn
	wg   sync.WaitGroup
	mu   sync.Mutex
	seen []string
	// accepted receives each TCP peer address as it is accepted.
	accepted chan string
}

func (n *testNet) serve(t *testing.T) *peerServer {
	t.Helper()
	s := &peerServer{accepted: make(chan string, 16)}
	var err error
	n.lan.Do(func() {
		if s.tcp, err = net.Listen("tcp4", lanIP+":0"); err != nil {
			return
		}
		s.udp, err = net.ListenPacket("udp4", lanIP+":"+fmt.Sprint(s.tcp.Addr().(*net.TCPAddr).Port))
	})
	if err != nil {
		t.Fatal(err)
	}
	s.wg.Add(2)
	go s.acceptLoop()
	go s.udpLoop()
	t.Cleanup(func() {
		s.tcp.Close()
		s.udp.Close()
		s.wg.Wait()
	})
	return s
}

func (s *peerServer) addr() string { return s.tcp.Addr().String() }

func (s *peerServer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		ip := c.RemoteAddr().(*net.TCPAddr).IP.String()
		s.mu.Lock()
		s.seen = append(s.seen, ip)
		s.mu.Unlock()
		select {
		case s.accepted <- ip:
		default:
		}
		s.wg.Add(1)
		go s.echo(c)
	}
}

func (s *peerServer) echo(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	fmt.Fprintf(c, "peer=%s\n", c.RemoteAddr())
	io.Copy(c, c)
}

func (s *peerServer) udpLoop() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := s.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		s.udp.WriteTo([]byte(from.String()+" "+string(buf[:n])), from)
	}
}

func (s *peerServer) seenAddrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), s.seen...)
	sort.Strings(out)
	return out
}

// dial dials from the office namespace.
func (n *testNet) dial(ctx context.Context, src, network, addr string) (c net.Conn, err error) {
	n.office.Do(func() {
		c, err = (&Dialer{Timeout: 5 * time.Second}).DialFrom(ctx, netip.MustParseAddr(src), network, addr)
	})
	return c, err
}

func leakCheck(t *testing.T) {
	// Registered first, so it runs after every other cleanup.
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

func TestTCPSourceIsTheTunnelAddress(t *testing.T) {
	leakCheck(t)
	n := newNet(t, true)
	n.setup(t, Routing{Subnet: subnet})
	s := n.serve(t)
	ctx := context.Background()
	for _, src := range []string{"10.44.0.23", "10.44.0.24"} {
		c, err := n.dial(ctx, src, "tcp", s.addr())
		if err != nil {
			t.Fatalf("dial from %s: %v", src, err)
		}
		defer c.Close()
		if got := c.LocalAddr().(*net.TCPAddr).IP.String(); got != src {
			t.Errorf("local address %s, want %s", got, src)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		r := bufio.NewReader(c)
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: read greeting: %v", src, err)
		}
		if want := "peer=" + c.LocalAddr().String() + "\n"; line != want {
			t.Errorf("server saw %q, want %q", line, want)
		}
		msg := "license request from " + src
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(r, buf); err != nil || string(buf) != msg {
			t.Errorf("echo %q, %v; want %q", buf, err, msg)
		}
	}
	if got, want := strings.Join(s.seenAddrs(), " "), "10.44.0.23 10.44.0.24"; got != want {
		t.Errorf("server saw sources %q, want %q", got, want)
	}
}

func TestUDPRepliesReachTheRightSocket(t *testing.T) {
	leakCheck(t)
	n := newNet(t, true)
	n.setup(t, Routing{Subnet: subnet})
	s := n.serve(t)
	srcs := []string{"10.44.0.23", "10.44.0.24"}
	conns := make([]net.Conn, len(srcs))
	for i, src := range srcs {
		c, err := n.dial(context.Background(), src, "udp", s.udp.LocalAddr().String())
		if err != nil {
			t.Fatalf("dial udp from %s: %v", src, err)
		}
		defer c.Close()
		conns[i] = c
	}
	// Both ask before either reads: each answer must find its own socket.
	for i, c := range conns {
		if _, err := fmt.Fprintf(c, "ping %d", i); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 1500)
		m, err := c.Read(buf)
		if err != nil {
			t.Fatalf("%s: no answer: %v", srcs[i], err)
		}
		if want := fmt.Sprintf("%s ping %d", c.LocalAddr(), i); string(buf[:m]) != want {
			t.Errorf("%s got %q, want %q", srcs[i], buf[:m], want)
		}
		if !strings.HasPrefix(c.LocalAddr().String(), srcs[i]+":") {
			t.Errorf("local address %s, want %s", c.LocalAddr(), srcs[i])
		}
	}
}

// In tun and kernel mode the tunnel subnet is routed to the tunnel
// interface: this host's own packets to the devices, and packets between
// devices, must keep that route while the license server's replies are
// delivered locally.
func TestKernelModeKeepsTheTunnelRoute(t *testing.T) {
	leakCheck(t)
	n := newNet(t, true)
	// A veth pair stands in for the tunnel interface (this kernel may lack
	// the dummy driver); routing sees no difference.
	n.office.Run("ip", "link", "add", "transp-wg0", "type", "veth", "peer", "name", "transp-wg0p")
	n.office.Run("ip", "addr", "add", "10.44.0.1/24", "dev", "transp-wg0")
	n.office.Run("ip", "link", "set", "transp-wg0p", "up")
	n.office.Run("ip", "link", "set", "transp-wg0", "up")
	n.office.Run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	n.setup(t, Routing{Subnet: subnet, TunnelInterface: "transp-wg0"})
	s := n.serve(t)

	dev := netip.MustParseAddr("10.44.0.23").AsSlice()
	var wg0, veth netlink.Link
	var own, fromLAN, fromTunnel []netlink.Route
	var errs [5]error
	n.office.Do(func() {
		wg0, errs[0] = netlink.LinkByName("transp-wg0")
		veth, errs[1] = netlink.LinkByName(n.officeIf)
		if errs[0] != nil || errs[1] != nil {
			return
		}
		own, errs[2] = netlink.RouteGet(dev)
		fromLAN, errs[3] = netlink.RouteGetWithOptions(dev, &netlink.RouteGetOptions{IifIndex: veth.Attrs().Index, SrcAddr: net.ParseIP(lanIP)})
		fromTunnel, errs[4] = netlink.RouteGetWithOptions(dev, &netlink.RouteGetOptions{IifIndex: wg0.Attrs().Index, SrcAddr: net.ParseIP("10.44.0.24")})
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("route lookup %d: %v", i, err)
		}
	}
	if own[0].Type == unix.RTN_LOCAL || own[0].LinkIndex != wg0.Attrs().Index {
		t.Errorf("this host's packets to 10.44.0.23 go %+v, want via transp-wg0", own[0])
	}
	if fromTunnel[0].Type == unix.RTN_LOCAL || fromTunnel[0].LinkIndex != wg0.Attrs().Index {
		t.Errorf("device-to-device packets go %+v, want via transp-wg0", fromTunnel[0])
	}
	if fromLAN[0].Type != unix.RTN_LOCAL {
		t.Errorf("replies from the LAN to 10.44.0.23 go %+v, want local delivery", fromLAN[0])
	}

	c, err := n.dial(context.Background(), "10.44.0.23", "tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(line, "peer=10.44.0.23:") {
		t.Errorf("greeting %q, %v", line, err)
	}
}

func TestCheckReturnPath(t *testing.T) {
	leakCheck(t)
	r := Routing{Subnet: subnet}
	check := func(n *testNet, upstream string) (err error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n.office.Do(func() { err = CheckReturnPath(ctx, r, netip.Addr{}, upstream) })
		return err
	}

	t.Run("ok", func(t *testing.T) {
		n := newNet(t, true)
		n.setup(t, r)
		s := n.serve(t)
		if err := check(n, s.addr()); err != nil {
			t.Errorf("CheckReturnPath: %v", err)
		}
		select {
		case got := <-s.accepted:
			if got != "10.44.0.254" {
				t.Errorf("server saw %s, want the probe address 10.44.0.254", got)
			}
		case <-time.After(5 * time.Second):
			t.Error("the server never accepted the probe")
		}
		// Nothing listens on port 1: the RST comes back, so the way back
		// works, and the error must not blame the route.
		err := check(n, lanIP+":1")
		if err == nil || errors.Is(err, ErrNoReturnRoute) || !errors.Is(err, unix.ECONNREFUSED) {
			t.Errorf("CheckReturnPath to a closed port: %v, want connection refused", err)
		}
		if err := check(n, "127.0.0.1:22350"); !errors.Is(err, ErrLocalUpstream) {
			t.Errorf("loopback upstream: %v, want ErrLocalUpstream", err)
		}
		if err := check(n, officeIP+":22350"); !errors.Is(err, ErrLocalUpstream) {
			t.Errorf("upstream on this host: %v, want ErrLocalUpstream", err)
		}
	})

	t.Run("no LAN route", func(t *testing.T) {
		n := newNet(t, false)
		n.setup(t, r)
		s := n.serve(t)
		err := check(n, s.addr())
		var rpe *ReturnPathError
		if !errors.Is(err, ErrNoReturnRoute) || !errors.As(err, &rpe) {
			t.Fatalf("CheckReturnPath: %v, want ErrNoReturnRoute", err)
		}
		t.Logf("advice: %v", err)
		for _, want := range []string{"route -p add 10.44.0.0 mask 255.255.255.0 " + officeIP, "ip route add 10.44.0.0/24 via " + officeIP} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		if rpe.Gateway.String() != officeIP {
			t.Errorf("gateway %s, want %s", rpe.Gateway, officeIP)
		}
		// The admin adds the route the error names: now it works.
		n.lan.Run(strings.Fields(rpe.Linux())...)
		if err := check(n, s.addr()); err != nil {
			t.Errorf("after adding the route: %v", err)
		}
	})

	t.Run("no local routing", func(t *testing.T) {
		n := newNet(t, true)
		s := n.serve(t)
		if err := check(n, s.addr()); !errors.Is(err, ErrNoLocalRoute) {
			t.Errorf("CheckReturnPath without Setup: %v, want ErrNoLocalRoute", err)
		}
	})
}

type ruleKey struct {
	Priority, Table int
	Dst, Iif        string
}

type routeKey struct {
	Dst         string
	Type, Table int
}

// installed lists, in the office, what Setup owns: rules at r's
// priorities or for r's table, routes in r's table.
func installed(t *testing.T, ns *netnstest.NS, r Routing) (rules []ruleKey, routes []routeKey) {
	t.Helper()
	var err error
	ns.Do(func() {
		var rl []netlink.Rule
		if rl, err = netlink.RuleList(netlink.FAMILY_ALL); err != nil {
			return
		}
		for _, ru := range rl {
			if (ru.Priority >= r.priority() && ru.Priority <= r.priority()+2) || ru.Table == r.table() {
				rules = append(rules, ruleKey{ru.Priority, ru.Table, ru.Dst.String(), ru.IifName})
			}
		}
		var rt []netlink.Route
		if rt, err = netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: r.table()}, netlink.RT_FILTER_TABLE); err != nil {
			return
		}
		for _, ro := range rt {
			routes = append(routes, routeKey{ro.Dst.String(), ro.Type, ro.Table})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return rules, routes
}

func TestSetupIdempotentAndTeardown(t *testing.T) {
	n := newNet(t, false)
	r := Routing{Subnet: subnet, TunnelInterface: "wg0"}
	// A crashed run with another subnet left a rule and a route behind.
	n.office.Run("ip", "rule", "add", "pref", "10442", "to", "10.99.0.0/24", "lookup", "1044")
	n.office.Run("ip", "route", "add", "local", "10.99.0.0/24", "dev", "lo", "table", "1044")

	var teardown [2]func() error
	var err error
	for i := range teardown {
		n.office.Do(func() { teardown[i], err = Setup(r) })
		if err != nil {
			t.Fatalf("Setup %d: %v", i, err)
		}
		rules, routes := installed(t, n.office, r)
		wantRules := []ruleKey{{10440, 254, "10.44.0.0/24", "lo"}, {10441, 254, "10.44.0.0/24", "wg0"}, {10442, 1044, "10.44.0.0/24", ""}}
		if fmt.Sprint(rules) != fmt.Sprint(wantRules) {
			t.Errorf("after Setup %d: rules %v, want %v", i, rules, wantRules)
		}
		if want := []routeKey{{"10.44.0.0/24", unix.RTN_LOCAL, 1044}}; fmt.Sprint(routes) != fmt.Sprint(want) {
			t.Errorf("after Setup %d: routes %v, want %v", i, routes, want)
		}
	}
	for i := 0; i < 2; i++ {
		n.office.Do(func() { err = teardown[1]() })
		if err != nil {
			t.Errorf("teardown %d: %v", i, err)
		}
	}
	if rules, routes := installed(t, n.office, r); len(rules)+len(routes) != 0 {
		t.Errorf("after teardown: rules %v, routes %v", rules, routes)
	}
	// The first run's teardown, late, finds nothing and does no harm.
	n.office.Do(func() { err = teardown[0]() })
	if err != nil {
		t.Errorf("stale teardown: %v", err)
	}
}

// The commands printed for administrators install exactly what Setup does.
func TestCommandsMatchSetup(t *testing.T) {
	netnstest.Require(t)
	for _, r := range []Routing{
		{Subnet: subnet, TunnelInterface: "wg0"},
		{Subnet: netip.MustParsePrefix("fd44::/64"), Table: 4444, Priority: 444},
	} {
		bySetup, byHand := netnstest.New(t, "transp-setup"), netnstest.New(t, "transp-hand")
		var err error
		bySetup.Do(func() { _, err = Setup(r) })
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range r.Commands() {
			byHand.Run(strings.Fields(c)...)
		}
		r1, o1 := installed(t, bySetup, r)
		r2, o2 := installed(t, byHand, r)
		if fmt.Sprint(r1, o1) != fmt.Sprint(r2, o2) || len(r1) == 0 || len(o1) == 0 {
			t.Errorf("%s: Setup installed %v %v, the commands %v %v", r.Subnet, r1, o1, r2, o2)
		}
		for _, c := range r.RemoveCommands() {
			byHand.Run(strings.Fields(c)...)
		}
		if rules, routes := installed(t, byHand, r); len(rules)+len(routes) != 0 {
			t.Errorf("%s: after RemoveCommands: %v %v", r.Subnet, rules, routes)
		}
	}
}

// withoutNetAdmin runs fn on a thread whose effective capabilities lack
// CAP_NET_ADMIN and CAP_NET_RAW (capabilities are per thread), and puts
// them back. Sockets and netlink requests fn makes on that thread run
// unprivileged.
func withoutNetAdmin(t *testing.T, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var orig [2]unix.CapUserData
	if err := unix.Capget(&hdr, &orig[0]); err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	dropped := orig
	dropped[0].Effective &^= 1<<unix.CAP_NET_ADMIN | 1<<unix.CAP_NET_RAW
	if err := unix.Capset(&hdr, &dropped[0]); err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	fn()
	if err := unix.Capset(&hdr, &orig[0]); err != nil {
		// Leave the thread locked: it dies with the goroutine.
		t.Fatalf("restore capabilities: %v", err)
	}
	runtime.UnlockOSThread()
}

func TestNeedNetAdmin(t *testing.T) {
	n := newNet(t, true)
	var dialErr, setupErr, availErr error
	n.office.Do(func() {
		withoutNetAdmin(t, func() {
			availErr = Available()
			_, dialErr = (&Dialer{}).DialFrom(context.Background(), netip.MustParseAddr("10.44.0.23"), "tcp", lanIP+":1")
			_, setupErr = Setup(Routing{Subnet: subnet})
		})
	})
	for name, err := range map[string]error{"Available": availErr, "DialFrom": dialErr, "Setup": setupErr} {
		if !errors.Is(err, ErrNeedNetAdmin) {
			t.Errorf("%s without CAP_NET_ADMIN: %v, want ErrNeedNetAdmin", name, err)
		}
	}
	t.Logf("dial: %v", dialErr)
	var err error
	n.office.Do(func() { err = Available() })
	if err != nil {
		t.Errorf("Available as root: %v", err)
	}
	if rules, routes := installed(t, n.office, Routing{Subnet: subnet}); len(rules)+len(routes) != 0 {
		t.Errorf("failed Setup left %v %v", rules, routes)
	}
}

// The whole path in tun/kernel mode: a home device (its own namespace,
// 10.44.0.23, behind a link that stands in for the tunnel) connects to the
// gateway's listener on 10.44.0.1; the gateway dials the license server
// from the device's address, as the proxy will, and splices. The device's
// address now exists twice, at home and on the gateway's socket: the
// server's replies must stop at the gateway.
func TestProxyPathTunnelMode(t *testing.T) {
	leakCheck(t)
	n := newNet(t, true)
	home := netnstest.New(t, "transp-home")
	tunIf, _ := netnstest.Link(t, n.office, home, "10.44.0.1/24", "10.44.0.23/24")
	n.office.Run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	n.setup(t, Routing{Subnet: subnet, TunnelInterface: tunIf})
	s := n.serve(t)

	var ln net.Listener
	var err error
	n.office.Do(func() { ln, err = net.Listen("tcp4", "10.44.0.1:0") })
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		src := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()
		var up net.Conn
		n.office.Do(func() {
			up, err = (&Dialer{Timeout: 5 * time.Second}).DialFrom(context.Background(), src, "tcp", s.addr())
		})
		if err != nil {
			t.Errorf("upstream dial from %s: %v", src, err)
			return
		}
		defer up.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.Copy(up, c)
			up.(*net.TCPConn).CloseWrite()
		}()
		io.Copy(c, up)
	}()

	var c net.Conn
	home.Do(func() { c, err = net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second) })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "peer=10.44.0.23:") {
		t.Fatalf("the license server saw %q (%v), want peer=10.44.0.23:...", line, err)
	}
	io.WriteString(c, "hello")
	buf := make([]byte, 5)
	if _, err := io.ReadFull(r, buf); err != nil || string(buf) != "hello" {
		t.Errorf("echo through the gateway: %q, %v", buf, err)
	}
}

func TestIPv6(t *testing.T) {
	leakCheck(t)
	netnstest.Require(t)
	office, lan := netnstest.New(t, "transp-office6"), netnstest.New(t, "transp-lan6")
	for _, ns := range []*netnstest.NS{office, lan} {
		// No duplicate address detection: the addresses work at once.
		ns.Run("sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0")
	}
	netnstest.Link(t, office, lan, "fd00::1/64", "fd00::10/64")
	lan.Run("ip", "-6", "route", "add", "fd44::/64", "via", "fd00::1")
	var teardown func() error
	var err error
	office.Do(func() { teardown, err = Setup(Routing{Subnet: netip.MustParsePrefix("fd44::/64")}) })
	if err != nil {
		t.Fatal(err)
	}
	defer office.Do(func() { teardown() })
	var ln net.Listener
	lan.Do(func() { ln, err = net.Listen("tcp6", "[fd00::10]:0") })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		got <- c.RemoteAddr().(*net.TCPAddr).IP.String()
		c.Close()
	}()
	var c net.Conn
	office.Do(func() {
		c, err = (&Dialer{Timeout: 5 * time.Second}).DialFrom(context.Background(), netip.MustParseAddr("fd44::23"), "tcp", ln.Addr().String())
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if g := <-got; g != "fd44::23" {
		t.Errorf("server saw %s, want fd44::23", g)
	}
}
