package adminapi

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// An admin listener holds at most MaxConns connections (MaxConnsPerSource
// from one address: TestConsoleAnswersUnderIdleFlood), and an idle or
// silent connection is dropped after the header timeout: 2,000 idle
// unauthenticated connections stayed open for ever before, and 20,000
// filled the descriptor table so that license sessions failed.
func TestAdminListenerBoundsConnections(t *testing.T) {
	defer goleak.VerifyNone(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var active atomic.Int64
	srv := NewServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	srv.ReadHeaderTimeout = 2 * time.Second // shortened for the test (NewServer's is 10s); long enough for all to arrive, under Wine too
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			active.Add(1)
		case http.StateClosed, http.StateHijacked:
			active.Add(-1)
		}
	}
	lim := LimitListener(ln).(*guardedListener)
	peak := func() int {
		lim.g.mu.Lock()
		defer lim.g.mu.Unlock()
		return lim.g.peak
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(lim) }()
	var conns []net.Conn
	for i := 0; i < MaxConns+40; i++ { // from 8 addresses, 13 each
		c, err := dialFrom(fmt.Sprintf("127.0.2.%d", 1+i%8), ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// Silent clients are dropped by the header timeout (or make room for
	// newer ones); at no time are more than MaxConns held.
	deadline := time.Now().Add(20 * time.Second)
	for active.Load() != 0 || peak() < MaxConns {
		if time.Now().After(deadline) {
			t.Fatalf("active %d peak %d", active.Load(), peak())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if peak() > MaxConns {
		t.Fatalf("held %d connections at once, limit %d", peak(), MaxConns)
	}
	for _, c := range conns {
		c.Close()
	}
	srv.Close()
	<-done
}

// The timeouts are set on every admin server.
func TestNewServerHasTimeouts(t *testing.T) {
	s := NewServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if s.ReadHeaderTimeout == 0 || s.ReadTimeout == 0 || s.WriteTimeout == 0 || s.IdleTimeout == 0 || s.MaxHeaderBytes == 0 {
		t.Fatalf("missing limits: %+v", s)
	}
}
