package proxy

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/internal/testnet"
	"github.com/licgate/licgate/session"
)

// waitLen waits (by polling the table, bounded) until it holds n sessions.
func waitLen(t *testing.T, tb *session.SessionTable, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if n == 0 {
		if !tb.WaitGone(ctx, func(*session.Session) bool { return true }) {
			t.Fatalf("sessions left: %d", tb.Len())
		}
		return
	}
	for tb.Len() != n {
		if ctx.Err() != nil {
			t.Fatalf("sessions %d, want %d", tb.Len(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// eventually polls cond (bounded), for outcomes reported by counters.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never saw %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// One device sending from many source ports gets at most
// MaxUDPMappingsPerDevice mappings (17,738 upstream sockets before); the
// refusals are reported, and another device is unaffected.
func TestUDPMappingsBounded(t *testing.T) {
	checkLeaks(t)
	echo := udpEcho(t)
	var refused atomic.Int64
	p, _, pc, _ := loopProxy(t, echo.LocalAddr().String(), true, func(p *Proxy) {
		p.MaxUDPMappingsPerDevice = 5
		p.UDPIdleTimeout = time.Minute
		p.OnDeny = func(d session.Denial) { refused.Add(1) }
	})
	var conns []net.Conn
	for i := 0; i < 40; i++ {
		u, err := net.Dial("udp", pc.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		u.Write([]byte("hi"))
		conns = append(conns, u)
	}
	// The first five get answers; wait for them, then count.
	buf := make([]byte, 64)
	answered := 0
	for _, u := range conns[:5] {
		u.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := u.Read(buf); err == nil {
			answered++
		}
	}
	if answered != 5 {
		t.Fatalf("%d of the first 5 mappings answered", answered)
	}
	eventually(t, "35 refusals", func() bool { return refused.Load() >= 35 })
	if n := p.Sessions.Len(); n != 5 {
		t.Fatalf("%d mappings for one device, want at most 5", n)
	}
}

// A service's total is bounded too.
func TestUDPMappingsBoundedInAll(t *testing.T) {
	checkLeaks(t)
	echo := udpEcho(t)
	var refused atomic.Int64
	p, _, pc, _ := loopProxy(t, echo.LocalAddr().String(), true, func(p *Proxy) {
		p.MaxUDPMappings = 3
		p.UDPIdleTimeout = time.Minute
		p.OnDeny = func(d session.Denial) { refused.Add(1) }
	})
	for i := 0; i < 10; i++ {
		u, err := net.Dial("udp", pc.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		u.Write([]byte("hi"))
	}
	eventually(t, "7 refusals", func() bool { return refused.Load() >= 7 })
	waitLen(t, p.Sessions, 3)
}

// For a UDP-only service a mapping holds the license: it counts against
// caps, so the second device is refused by a cap of 1.
func TestUDPOnlyServiceCountsMappings(t *testing.T) {
	checkLeaks(t)
	echo := udpEcho(t)
	var refusedCap atomic.Int64
	p, _, pc, _ := loopProxy(t, echo.LocalAddr().String(), true, func(p *Proxy) {
		p.CountUDP = true
		p.UDPIdleTimeout = time.Minute
		p.Authorize = func(_ *session.Identity, _ string, c acl.Counts) (session.Admission, error) {
			if c != nil && c.ServiceSessions("svc") >= 1 {
				return session.Admission{}, &session.DenyError{Rule: -1, Kind: session.DenyKindCap, Reason: "pool full"}
			}
			return session.Admission{}, nil
		}
		p.OnDeny = func(d session.Denial) {
			if d.Kind == session.DenyKindCap {
				refusedCap.Add(1)
			}
		}
	})
	a, _ := net.Dial("udp", pc.LocalAddr().String())
	defer a.Close()
	a.Write([]byte("one"))
	buf := make([]byte, 64)
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := a.Read(buf); err != nil {
		t.Fatal(err)
	}
	b, _ := net.Dial("udp", pc.LocalAddr().String())
	defer b.Close()
	b.Write([]byte("two"))
	eventually(t, "a cap refusal", func() bool { return refusedCap.Load() > 0 })
	if n := p.Sessions.Len(); n != 1 {
		t.Fatalf("%d mappings, want 1", n)
	}
}

// A client that closed its side while the server stays silent no longer
// keeps its session (and seat) for ever.
func TestHalfClosedSilentServerEnds(t *testing.T) {
	checkLeaks(t)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	silent := testnet.Serve(t, func(c net.Conn) {
		buf := make([]byte, 64)
		for {
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
		// EOF from the client: stay silent, keep the connection open.
		<-stop
	})
	ended := make(chan string, 1)
	p, ln, _, _ := loopProxy(t, silent.Addr().String(), true, func(p *Proxy) {
		p.HalfCloseTimeout = 200 * time.Millisecond
		p.Sessions.OnEnd = func(s *session.Session, reason string) { ended <- reason }
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("bye"))
	c.(*net.TCPConn).CloseWrite()
	select {
	case r := <-ended:
		if r != session.EndHalfClosed {
			t.Fatalf("end reason %q", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("session still open long after the client closed (%d live)", p.Sessions.Len())
	}
}

// Close returns while a connection is still dialing upstream: dials are
// cancelled by Close (context.Background before: Close hung for ever).
func TestCloseCancelsDialInFlight(t *testing.T) {
	checkLeaks(t)
	dialing := make(chan struct{})
	p, ln, _, _ := loopProxy(t, "192.0.2.1:1", true, func(p *Proxy) {
		p.DialTimeout = time.Hour
		p.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			close(dialing)
			<-ctx.Done()
			return nil, ctx.Err()
		}
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-dialing
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close hangs while a dial is in flight")
	}
	if err := p.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
}
