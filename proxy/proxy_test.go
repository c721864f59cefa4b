package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/internal/testnet"
	"github.com/licgate/licgate/session"
)

func checkLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// loopProxy runs a Proxy on loopback listeners, the same code the tunnel
// listeners use, with 127.0.0.1 as the only known device.
// loopProxy serves a proxy on loopback; setup runs before it serves (a
// TCP connect is no synchronization the race detector sees).
func loopProxy(t *testing.T, upstream string, known bool, setup ...func(*Proxy)) (*Proxy, net.Listener, net.PacketConn, *atomic.Int64) {
	t.Helper()
	var dials atomic.Int64
	p := &Proxy{
		Service:        "svc",
		Upstream:       upstream,
		UDPIdleTimeout: 300 * time.Millisecond,
		Identify: func(a netip.Addr) (*session.Identity, bool) {
			if known && a == netip.MustParseAddr("127.0.0.1") {
				return &session.Identity{DeviceID: 7, Device: "laptop", User: "alice", Address: a}, true
			}
			return nil, false
		},
		Authorize: func(*session.Identity, string, acl.Counts) (session.Admission, error) {
			return session.Admission{}, nil
		},
		Sessions: session.NewSessionTable(),
	}
	var d net.Dialer
	p.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range setup {
		f(p)
	}
	go p.ServeTCP(ln)
	go p.ServeUDP(pc)
	t.Cleanup(func() { p.Close() })
	return p, ln, pc, &dials
}

// halfCloseServer reads until EOF, then answers with what it read,
// reversed, and closes: only correct half-close handling gets the answer.
func halfCloseServer(t *testing.T) net.Listener {
	return testnet.Serve(t, func(c net.Conn) {
		b, _ := io.ReadAll(c)
		for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
		c.Write(b)
	})
}

func TestProxyHalfCloseAndByteCounts(t *testing.T) {
	checkLeaks(t)
	srv := halfCloseServer(t)
	p, ln, _, _ := loopProxy(t, srv.Addr().String(), true)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := bytes.Repeat([]byte("abcdefgh"), 10000) // 80 kB, several buffers
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	// Wait for the session to appear, then half-close.
	for i := 0; i < 200 && p.Sessions.Len() == 0; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	ss := p.Sessions.List()
	if len(ss) != 1 || ss[0].User != "alice" || ss[0].Device != "laptop" || ss[0].Proto != "tcp" {
		t.Fatalf("sessions: %+v", ss)
	}
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(msg) || got[0] != 'h' || got[len(got)-1] != 'a' {
		t.Fatalf("answer after half-close: %d bytes", len(got))
	}
	waitCtx, cancelWait := context.WithTimeout(context.Background(), 5*time.Second)
	p.Sessions.WaitGone(waitCtx, func(*session.Session) bool { return true }) // woken by the removal
	cancelWait()
	if p.Sessions.Len() != 0 {
		t.Fatal("session not removed after both sides closed")
	}
}

func TestProxyEndReasonAndCounts(t *testing.T) {
	checkLeaks(t)
	srv := halfCloseServer(t)
	type end struct {
		reason   string
		up, down int64
	}
	ends := make(chan end, 1)
	_, ln, _, _ := loopProxy(t, srv.Addr().String(), true, func(p *Proxy) {
		p.Sessions.OnEnd = func(s *session.Session, reason string) { ends <- end{reason, s.Up.Load(), s.Down.Load()} }
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("12345"))
	c.(*net.TCPConn).CloseWrite()
	io.ReadAll(c)
	c.Close()
	select {
	case e := <-ends:
		if e.reason != session.EndClientClosed || e.up != 5 || e.down != 5 {
			t.Fatalf("end = %+v, want client closed, 5 up, 5 down", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no session end")
	}
}

func TestProxyUnknownSourceNeverDialsUpstream(t *testing.T) {
	checkLeaks(t)
	srv := halfCloseServer(t)
	p, ln, pc, dials := loopProxy(t, srv.Addr().String(), false)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 10)); err == nil || isTimeout(err) {
		t.Fatalf("unknown source's connection not closed: %v", err)
	}
	u, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.Write([]byte("DISCOVER"))
	u.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := u.Read(make([]byte, 10)); err == nil {
		t.Fatal("unknown source got a UDP answer")
	}
	if dials.Load() != 0 {
		t.Fatalf("upstream dialled %d times for an unknown source", dials.Load())
	}
	if p.Refusals() < 2 {
		t.Fatalf("refusals = %d, want >= 2", p.Refusals())
	}
	if p.Sessions.Len() != 0 {
		t.Fatal("session recorded for unknown source")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// udpEcho answers each datagram with "echo:" + the datagram.
func udpEcho(t *testing.T) net.PacketConn {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte("echo:"), buf[:n]...), from)
		}
	}()
	t.Cleanup(func() { pc.Close() })
	return pc
}

func TestProxyUDPMappingsPerPeerAndIdle(t *testing.T) {
	checkLeaks(t)
	echo := udpEcho(t)
	p, _, pc, _ := loopProxy(t, echo.LocalAddr().String(), true)
	var conns []net.Conn
	for i := 0; i < 3; i++ {
		u, err := net.Dial("udp", pc.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		conns = append(conns, u)
	}
	buf := make([]byte, 100)
	for round := 0; round < 3; round++ {
		for i, u := range conns {
			msg := []byte{byte('a' + i), byte('0' + round)}
			u.Write(msg)
			u.SetReadDeadline(time.Now().Add(3 * time.Second))
			n, err := u.Read(buf)
			if err != nil {
				t.Fatalf("client %d round %d: %v", i, round, err)
			}
			if string(buf[:n]) != "echo:"+string(msg) {
				t.Fatalf("client %d got %q: replies crossed", i, buf[:n])
			}
		}
	}
	if n := p.Sessions.Len(); n != 3 {
		t.Fatalf("udp mappings = %d, want 3", n)
	}
	// Silence ends the mappings (idle timeout 300ms); the table wakes us.
	waitCtx, cancelWait := context.WithTimeout(context.Background(), 5*time.Second)
	p.Sessions.WaitGone(waitCtx, func(*session.Session) bool { return true })
	cancelWait()
	if n := p.Sessions.Len(); n != 0 {
		t.Fatalf("mappings left after idle: %d", n)
	}
}

func TestProxyCloseTwice(t *testing.T) {
	p := &Proxy{Sessions: session.NewSessionTable()}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
}
