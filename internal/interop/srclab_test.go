package interop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licgate/licgate/internal/licsim"
	"github.com/licgate/licgate/internal/netnstest"
)

// The source-address lab (issue 16): the lab's office, plus a LAN
// namespace holding the license server behind a veth, plus one namespace
// per home device. Every name it makes starts with isrc (namespaces
// lgt-isrc-*, WireGuard interfaces isrc*).
//
//	home (l.home) 10.99.0.2 --\
//	isrc-home 10.98.2.2 -------+-- office: licgate 10.99.0.1 / 10.98.x.1 --- 192.168.77.1
//	isrc-home 10.98.3.2 ------/                                                  |
//	                                                          isrc-lan: 192.168.77.10 (licsim)
const (
	gwLAN      = "192.168.77.1"
	srvLAN     = "192.168.77.10"
	tunnelNet  = "10.44.0.0/24"
	srcPolicy  = "policy:\n  rules:\n    - {name: banned, action: deny, who: [user:mallory]}\n    - {name: staff, action: allow, who: [\"*\"], max_sessions_per_user: 1}\n"
	srcTimeout = 10 * time.Second
)

// seen records what the license server sees: the peer address of every
// TCP connection it accepts (and when that connection closes), the source
// of every UDP datagram, and it appends " to=<addr>" to every UDP answer
// so a home device can tell which address the answer was sent to.
type seen struct {
	mu    sync.Mutex
	conns []*seenConn
	udp   []netip.AddrPort
	added chan struct{} // closed (and replaced) when a connection is accepted
}

// waitAccepted waits until a connection matching pred was accepted.
func (s *seen) waitAccepted(timeout time.Duration, pred func(*seenConn) bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		for _, c := range s.conns {
			if pred(c) {
				s.mu.Unlock()
				return true
			}
		}
		if s.added == nil {
			s.added = make(chan struct{})
		}
		added := s.added
		s.mu.Unlock()
		select {
		case <-added:
		case <-deadline.C:
			return false
		}
	}
}

type seenConn struct {
	net.Conn
	remote netip.AddrPort
	once   sync.Once
	closed chan struct{}
}

// Close is called by licsim when it sees the client's side close (or
// when it closes itself): the server-side end of the session.
func (c *seenConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

type seenListener struct {
	net.Listener
	s *seen
}

func (l seenListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &seenConn{Conn: c, remote: netip.MustParseAddrPort(c.RemoteAddr().String()), closed: make(chan struct{})}
	l.s.mu.Lock()
	l.s.conns = append(l.s.conns, sc)
	if l.s.added != nil {
		close(l.s.added)
		l.s.added = nil
	}
	l.s.mu.Unlock()
	return sc, nil
}

type seenPacketConn struct {
	net.PacketConn
	s *seen
}

func (p seenPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := p.PacketConn.ReadFrom(b)
	if err == nil {
		p.s.mu.Lock()
		p.s.udp = append(p.s.udp, netip.MustParseAddrPort(from.String()))
		p.s.mu.Unlock()
	}
	return n, from, err
}

func (p seenPacketConn) WriteTo(b []byte, to net.Addr) (int, error) {
	ans := append(append([]byte{}, b...), " to="+to.String()...)
	n, err := p.PacketConn.WriteTo(ans, to)
	return min(n, len(b)), err
}

// accepted is a copy of the TCP connections accepted so far.
func (s *seen) accepted() []*seenConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*seenConn{}, s.conns...)
}

func (s *seen) udpFrom(a netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.udp {
		if u.Addr() == a {
			return true
		}
	}
	return false
}

// srcLab is a lab whose license server is on the LAN.
type srcLab struct {
	*lab
	lan   *netnstest.NS
	seen  *seen
	homes int
}

// srcHome is one home device in its own namespace.
type srcHome struct {
	ns           *netnstest.NS
	user, device string
	addr         netip.Addr // its tunnel address
}

func (h *srcHome) String() string { return h.user + "/" + h.device }

// newSrcLab starts licgate in the office with the codemeter service's
// source set to source, the license server (licsim, 3 seats) in the LAN
// namespace and, if returnRoute, the LAN's route for the tunnel subnet via
// the gateway. before (may be nil) runs before licgate starts.
func newSrcLab(t *testing.T, tunnelYAML, source string, returnRoute bool, before func(l *lab)) *srcLab {
	sl := &srcLab{seen: &seen{}}
	sl.lab = newLab(t, tunnelYAML, func(l *lab) {
		sl.lan = netnstest.New(t, "isrc-lan")
		netnstest.Link(t, l.office, sl.lan, gwLAN+"/24", srvLAN+"/24")
		if returnRoute {
			sl.lan.Run("ip", "route", "add", tunnelNet, "via", gwLAN)
		}
		// Move the license server from the office's loopback to the LAN
		// (newLab's cleanup closes whatever l.srv is then).
		l.srv.Close()
		l.srv = &licsim.Server{Seats: 3, Name: "lan"}
		sl.lan.Do(func() {
			ln, err := net.Listen("tcp", srvLAN+":0")
			if err != nil {
				t.Fatal(err)
			}
			pc, err := net.ListenPacket("udp", ln.Addr().String())
			if err != nil {
				ln.Close()
				t.Fatal(err)
			}
			l.srv.Serve(seenListener{ln, sl.seen}, seenPacketConn{pc, sl.seen})
		})
		l.serviceYAML = "    source: " + source + "\n    dial_timeout: 2s\n"
		l.policyYAML = srcPolicy
		if before != nil {
			before(l)
		}
	})
	return sl
}

var profileAddr = regexp.MustCompile(`(?m)^Address\s*=\s*([0-9.]+)/32`)

// addHome enrols user/device and brings its wg-quick profile up in a
// namespace of its own (the first in the lab's home namespace), joined to
// the office by a veth and routed to the tunnel endpoint 10.99.0.1.
func (sl *srcLab) addHome(user, device string) *srcHome {
	t := sl.t
	t.Helper()
	h := &srcHome{user: user, device: device}
	if sl.homes == 0 {
		h.ns = sl.home
	} else {
		n := sl.homes + 1
		h.ns = netnstest.New(t, "isrc-home")
		netnstest.Link(t, sl.office, h.ns, fmt.Sprintf("10.98.%d.1/24", n), fmt.Sprintf("10.98.%d.2/24", n))
		h.ns.Run("ip", "route", "add", "10.99.0.1/32", "via", fmt.Sprintf("10.98.%d.1", n))
	}
	sl.homes++
	sl.cli("user", "add", user)
	name := tunName("isrc")
	sl.cli("device", "add", user, device, "--out", filepath.Join(sl.dir, name), "--no-qr")
	conf := filepath.Join(sl.dir, name+".conf")
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	m := profileAddr.FindSubmatch(data)
	if m == nil {
		t.Fatalf("no Address in the profile:\n%s", data)
	}
	h.addr = netip.MustParseAddr(string(m[1]))
	if out, err := h.ns.TryRun(wgEnv, "wg-quick", "up", conf); err != nil {
		t.Fatalf("wg-quick up %s: %v\n%s", conf, err, out)
	}
	t.Cleanup(func() {
		h.ns.TryRun(wgEnv, "wg-quick", "down", conf)
		os.Remove("/var/run/wireguard/" + name + ".sock")
	})
	return h
}

// dial connects from the device's namespace.
func (h *srcHome) dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	var err error
	h.ns.Do(func() { c, err = net.DialTimeout(network, addr, timeout) })
	return c, err
}

// hello connects to the gateway's codemeter port and says HELLO; it
// returns the connection and the first answer line (or the read error).
func (h *srcHome) hello() (net.Conn, *bufio.Reader, string, error) {
	c, err := h.dial("tcp", "10.44.0.1:22350", srcTimeout)
	if err != nil {
		return nil, nil, "", fmt.Errorf("%s: connect through the tunnel: %w", h, err)
	}
	c.SetDeadline(time.Now().Add(srcTimeout))
	fmt.Fprintf(c, "HELLO %s\n", h)
	r := bufio.NewReader(c)
	ans, err := r.ReadString('\n')
	c.SetDeadline(time.Time{})
	return c, r, ans, err
}

// takeSeat holds a seat from h and returns the license server's end of
// the connection.
func (sl *srcLab) takeSeat(h *srcHome) (net.Conn, *bufio.Reader, *seenConn) {
	t := sl.t
	t.Helper()
	before := len(sl.seen.accepted())
	c, r, ans, err := h.hello()
	if err != nil || !strings.HasPrefix(ans, "OK ") {
		if c != nil {
			c.Close()
		}
		t.Fatalf("%s: HELLO answered %q %v", h, ans, err)
	}
	t.Cleanup(func() { c.Close() })
	acc := sl.seen.accepted()
	if len(acc) != before+1 {
		t.Fatalf("%s: the license server accepted %d connections for one seat", h, len(acc)-before)
	}
	return c, r, acc[len(acc)-1]
}

// refused checks that h's connection is refused: the gateway closes it
// without an answer.
func (sl *srcLab) refused(h *srcHome) {
	t := sl.t
	t.Helper()
	c, _, ans, err := h.hello()
	if c == nil {
		return // refused at connect
	}
	defer c.Close()
	if err == nil {
		t.Fatalf("%s: expected a refusal, got %q", h, ans)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the refused connection stayed open", h)
	}
}

// discover sends DISCOVER from h and returns the answer.
func (h *srcHome) discover() (string, error) {
	c, err := h.dial("udp", "10.44.0.1:22350", 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	buf := make([]byte, 512)
	for i := 0; i < 5; i++ {
		c.Write([]byte("DISCOVER"))
		c.SetReadDeadline(time.Now().Add(time.Second))
		if n, err := c.Read(buf); err == nil {
			return string(buf[:n]), nil
		}
	}
	return "", fmt.Errorf("%s: no UDP discovery answer through the tunnel", h)
}

// waitClosed waits for the license server's end of a session to close.
func waitClosed(t *testing.T, what string, sc *seenConn) {
	t.Helper()
	select {
	case <-sc.closed:
	case <-time.After(srcTimeout):
		t.Fatalf("%s: the license server did not see the connection from %s close", what, sc.remote)
	}
}

func isClosed(sc *seenConn) bool {
	select {
	case <-sc.closed:
		return true
	default:
		return false
	}
}

// poll retries f until it returns nil or srcTimeout passes, and returns
// its last error.
func poll(f func() error) error {
	deadline := time.Now().Add(srcTimeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (sl *srcLab) get(path string, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), srcTimeout)
	defer cancel()
	return sl.api.Do(ctx, "GET", path, nil, out)
}
