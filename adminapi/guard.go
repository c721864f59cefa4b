package adminapi

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"sync"
)

// MaxConnsPerSource is how many connections one source address may hold
// on an admin listener. A browser opens about six.
const MaxConnsPerSource = 16

// The connection guard keeps a flood of idle or slow connections from
// starving an admin listener. A fixed limit that blocks Accept (as
// netutil.LimitListener does) lets whoever opens connections fastest
// hold every slot until the header timeout, while the admin's connection
// waits in the kernel's backlog behind thousands of others. The guard
// instead accepts at once and, when a source or the listener is over its
// budget, closes the oldest *waiting* connection (one that has not sent
// a whole request header yet, or is idle between requests) of the source
// holding the most. A request being served is never cut. So one source
// churns only its own connections, and the newest connection of a quiet
// source always gets in.
//
//	accepted ──► waiting ──(request header read)──► busy ──(response sent)──► waiting
//	                 └──── evicted (closed) when its source is the heaviest over budget
type guard struct {
	max, perSource int

	mu      sync.Mutex
	seq     uint64
	total   int
	peak    int // most connections held at once
	sources map[netip.Addr]*source
}

type source struct {
	n       int                     // connections held
	waiting map[*guardedConn]uint64 // evictable, with their sequence number (age)
}

func newGuard(max, perSource int) *guard {
	return &guard{max: max, perSource: perSource, sources: map[netip.Addr]*source{}}
}

// guardedListener is a listener behind a guard.
type guardedListener struct {
	net.Listener
	g *guard
}

// Accept returns the next connection, after making room for it.
func (l *guardedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if gc := l.g.admit(c); gc != nil {
			return gc, nil
		}
	}
}

// sourceOf is the remote IP; every non-IP peer (a unix socket) is the
// zero Addr, one source with the listener's whole budget.
func sourceOf(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// admit registers c, closing an older waiting connection if c's source
// or the listener is full; nil (c closed) when every connection that
// could make room is busy.
func (g *guard) admit(c net.Conn) *guardedConn {
	src := sourceOf(c)
	perSource := g.perSource
	if !src.IsValid() {
		perSource = g.max
	}
	g.mu.Lock()
	s := g.sources[src]
	if s == nil {
		s = &source{waiting: map[*guardedConn]uint64{}}
		g.sources[src] = s
	}
	var victim *guardedConn
	switch {
	case s.n >= perSource:
		victim = oldestWaiting(s)
	case g.total >= g.max:
		// The heaviest source with a waiting connection gives one up.
		var heavy *source
		for _, o := range g.sources {
			if len(o.waiting) > 0 && (heavy == nil || o.n > heavy.n) {
				heavy = o
			}
		}
		if heavy != nil {
			victim = oldestWaiting(heavy)
		}
	}
	full := s.n >= perSource || g.total >= g.max
	if full && victim == nil {
		if s.n == 0 {
			delete(g.sources, src)
		}
		g.mu.Unlock()
		c.Close()
		return nil
	}
	if victim != nil {
		g.forgetLocked(victim)
	}
	g.seq++
	gc := &guardedConn{Conn: c, g: g, src: src}
	s.n++
	g.total++
	g.peak = max(g.peak, g.total)
	s.waiting[gc] = g.seq
	g.mu.Unlock()
	if victim != nil {
		victim.Conn.Close() // its server goroutine sees the error and ends
	}
	return gc
}

func oldestWaiting(s *source) *guardedConn {
	var (
		old *guardedConn
		min uint64
	)
	for c, seq := range s.waiting {
		if old == nil || seq < min {
			old, min = c, seq
		}
	}
	return old
}

// forgetLocked drops c from the books (once). g.mu is held.
func (g *guard) forgetLocked(c *guardedConn) {
	if c.gone {
		return
	}
	c.gone = true
	s := g.sources[c.src]
	delete(s.waiting, c)
	s.n--
	g.total--
	if s.n == 0 {
		delete(g.sources, c.src)
	}
}

// setBusy counts a request c starts (true) or ends (false) serving:
// with one or more in flight (HTTP/2 serves several at once) it is not
// evictable.
func (g *guard) setBusy(c *guardedConn, busy bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if busy {
		c.busy++
	} else {
		c.busy--
	}
	if c.gone {
		return
	}
	s := g.sources[c.src]
	if c.busy > 0 {
		delete(s.waiting, c)
		return
	}
	g.seq++
	s.waiting[c] = g.seq
}

// guardedConn is a connection the guard counts. Its fields other than
// Conn are guarded by g.mu.
type guardedConn struct {
	net.Conn
	g    *guard
	src  netip.Addr
	gone bool
	busy int // requests in flight
}

// Close closes the connection and frees its place.
func (c *guardedConn) Close() error {
	c.g.mu.Lock()
	c.g.forgetLocked(c)
	c.g.mu.Unlock()
	return c.Conn.Close()
}

type guardedConnKey struct{}

// connContext remembers the guarded connection under a request's
// context (the server's ConnContext), unwrapping TLS.
func connContext(ctx context.Context, c net.Conn) context.Context {
	for {
		if gc, ok := c.(*guardedConn); ok {
			return context.WithValue(ctx, guardedConnKey{}, gc)
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return ctx
		}
		c = u.NetConn()
	}
}

// markBusy wraps h: while a request is served, its connection is not
// evictable.
func markBusy(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if gc, ok := r.Context().Value(guardedConnKey{}).(*guardedConn); ok {
			gc.g.setBusy(gc, true)
			defer gc.g.setBusy(gc, false)
		}
		h.ServeHTTP(w, r)
	})
}
