package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/session"
)

// Proxy forwards one service from tunnel listeners to the upstream license
// server, attributing every connection to a device.
//
// After Serve* returns, the proxy never touches its listener again; Close
// cuts live sessions and waits for their goroutines.
type Proxy struct {
	// Service is the service name recorded on sessions.
	Service string
	// Upstream is the license server's host:port.
	Upstream string
	// Dial connects upstream. If nil, a net.Dialer.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// DialFrom, if set, connects upstream from the device's own tunnel
	// address src (services with source: tunnel; see package transparent)
	// and takes precedence over Dial.
	DialFrom func(ctx context.Context, src netip.Addr, network, address string) (net.Conn, error)
	// DialTimeout bounds Dial. If zero, 5s.
	DialTimeout time.Duration
	// UDPIdleTimeout ends a UDP mapping after this much silence. If zero, 60s.
	UDPIdleTimeout time.Duration
	// Identify maps a (WireGuard-authenticated) source address to a device.
	// Required.
	Identify func(netip.Addr) (*session.Identity, bool)
	// Authorize decides whether id may use Service now. It is called
	// before dialling with counts nil (caps unchecked), and again under the
	// session table lock with the live counts. A refusal is an error,
	// ideally a *session.DenyError. Required.
	Authorize func(id *session.Identity, service string, counts acl.Counts) (session.Admission, error)
	// OnDeny, if set, is told of every refused connection or mapping.
	OnDeny func(session.Denial)
	// OnDial, if set, is told how long each upstream connect took.
	OnDial func(service string, d time.Duration, err error)
	// Sessions records sessions. Required.
	Sessions *session.SessionTable
	// HalfCloseTimeout ends a session this long after one side closed its
	// direction while the other stays silent (a client that went away
	// must not hold its seat for ever). If zero, 60s.
	HalfCloseTimeout time.Duration
	// MaxUDPMappingsPerDevice bounds one device's UDP mappings (one per
	// source port it sends from). If zero, 64.
	MaxUDPMappingsPerDevice int
	// MaxUDPMappings bounds this service's UDP mappings in all. If zero, 1024.
	MaxUDPMappings int
	// CountUDP makes UDP mappings count against session caps, for services
	// that speak only UDP (Sentinel RMS): there a mapping is what holds a
	// license. Otherwise only TCP sessions count.
	CountUDP bool
	// Port is the gateway port this proxy's listeners serve (recorded on
	// sessions); NoSeats, FilterAdmin: see ports.go.
	Port        int
	NoSeats     bool
	FilterAdmin bool
	// Logger; if nil, discarded.
	Logger *slog.Logger

	wg       sync.WaitGroup
	mu       sync.Mutex
	closers  []io.Closer
	closed   bool
	ctx      context.Context // cancelled by Close: ends dials in flight
	cancel   context.CancelFunc
	refusals atomic.Int64
}

func (p *Proxy) log() *slog.Logger {
	if p.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Logger
}

func (p *Proxy) dialTimeout() time.Duration {
	if p.DialTimeout == 0 {
		return 5 * time.Second
	}
	return p.DialTimeout
}

func (p *Proxy) halfClose() time.Duration {
	if p.HalfCloseTimeout == 0 {
		return 60 * time.Second
	}
	return p.HalfCloseTimeout
}

func (p *Proxy) maxPerDevice() int {
	if p.MaxUDPMappingsPerDevice == 0 {
		return 64
	}
	return p.MaxUDPMappingsPerDevice
}

func (p *Proxy) maxMappings() int {
	if p.MaxUDPMappings == 0 {
		return 1024
	}
	return p.MaxUDPMappings
}

// context is cancelled when the proxy closes.
func (p *Proxy) context() context.Context {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx == nil {
		p.ctx, p.cancel = context.WithCancel(context.Background())
		if p.closed {
			p.cancel()
		}
	}
	return p.ctx
}

func (p *Proxy) udpIdle() time.Duration {
	if p.UDPIdleTimeout == 0 {
		return 60 * time.Second
	}
	return p.UDPIdleTimeout
}

func (p *Proxy) dial(ctx context.Context, src netip.Addr, network string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, p.dialTimeout())
	defer cancel()
	start := time.Now()
	var c net.Conn
	var err error
	switch {
	case p.DialFrom != nil:
		c, err = p.DialFrom(ctx, src, network, p.Upstream)
	case p.Dial != nil:
		c, err = p.Dial(ctx, network, p.Upstream)
	default:
		var d net.Dialer
		c, err = d.DialContext(ctx, network, p.Upstream)
	}
	if p.OnDial != nil && network == "tcp" {
		p.OnDial(p.Service, time.Since(start), err)
	}
	return c, err
}

// Refusals counts connections refused (unknown source or not authorized).
func (p *Proxy) Refusals() int64 { return p.refusals.Load() }

func (p *Proxy) track(c io.Closer) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.closers = append(p.closers, c)
	return true
}

func (p *Proxy) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// Close stops the listeners given to Serve*, cuts this proxy's sessions
// and waits for every goroutine it started. Safe to call twice.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return net.ErrClosed
	}
	p.closed = true
	if p.cancel != nil {
		p.cancel()
	}
	for _, c := range p.closers {
		c.Close()
	}
	p.mu.Unlock()
	p.Sessions.Cut(func(s *session.Session) bool { return s.Service == p.Service }, session.EndShutdown)
	p.wg.Wait()
	return nil
}

func addrPortOf(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	case *net.UDPAddr:
		return a.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// decider returns the check run under the table lock: identity and
// authorization are read again there, with the live counts, so caps hold
// under concurrent connects and a revoke that raced with the dial wins.
func (p *Proxy) decider(src netip.Addr) session.Decider {
	return func(s *session.Session, counts acl.Counts) (session.Admission, error) {
		id, ok := p.Identify(src)
		if !ok {
			return session.Admission{}, errUnknownSource
		}
		return p.Authorize(id, p.Service, counts)
	}
}

var errUnknownSource = errors.New("no device has this tunnel address")

// ServeTCP accepts connections until ln is closed.
func (p *Proxy) ServeTCP(ln net.Listener) error {
	if !p.track(ln) {
		return net.ErrClosed
	}
	p.wg.Add(1)
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || p.isClosed() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("gateway: %s: accept: %w", p.Service, err)
		}
		p.wg.Add(1)
		go p.handleTCP(c)
	}
}

func (p *Proxy) refuse(src netip.AddrPort, id *session.Identity, proto string, err error) {
	p.refusals.Add(1)
	d := session.Denial{Time: time.Now(), Service: p.Service, Proto: proto, Source: src, Rule: -1, Kind: session.DenyKindOther, Reason: err.Error()}
	if id != nil {
		d.User, d.Device = id.User, id.Device
	}
	var de *session.DenyError
	switch {
	case errors.Is(err, errUnknownSource):
		d.Kind = session.DenyKindUnknownDevice
	case errors.As(err, &de):
		d.Rule, d.Kind = de.Rule, de.Kind
	}
	p.log().Info("connection refused", slog.String("service", p.Service), slog.String("proto", proto),
		slog.String("source", src.String()), slog.String("user", d.User), slog.String("device", d.Device),
		slog.String("reason", d.Reason))
	if p.OnDeny != nil {
		p.OnDeny(d)
	}
}

func (p *Proxy) handleTCP(c net.Conn) {
	defer p.wg.Done()
	src := addrPortOf(c.RemoteAddr())
	id, ok := p.Identify(src.Addr())
	if !ok {
		p.refuse(src, nil, "tcp", errUnknownSource)
		c.Close()
		return
	}
	if _, err := p.Authorize(id, p.Service, nil); err != nil {
		p.refuse(src, id, "tcp", err)
		c.Close()
		return
	}
	peeked, err := p.filterAdmin(c)
	if err != nil {
		p.refuse(src, id, "tcp", err)
		c.Close()
		return
	}
	up, err := p.dial(p.context(), src.Addr(), "tcp")
	if err != nil {
		p.log().Warn("upstream dial failed", slog.String("service", p.Service), slog.String("upstream", p.Upstream),
			slog.String("device", id.User+"/"+id.Device), slog.String("err", err.Error()))
		c.Close()
		return
	}
	s := &session.Session{Service: p.Service, Proto: "tcp", DeviceID: id.DeviceID, Device: id.Device, User: id.User,
		Client: src, Start: time.Now(), Conns: []net.Conn{c, up}, NoSeat: p.NoSeats, Port: p.Port}
	if err := p.Sessions.Admit(s, p.decider(src.Addr())); err != nil {
		p.refuse(src, id, "tcp", err)
		c.Close()
		up.Close()
		return
	}
	p.forwardPeeked(up, peeked, s)
	if p.isClosed() {
		// Close ran while this connection was being admitted: its cut may
		// have missed it, so the session ends here, and Close's wait ends.
		s.Cut(session.EndShutdown)
	}
	p.log().Info("session start", slog.Uint64("session", s.ID), slog.String("service", p.Service), slog.String("proto", "tcp"),
		slog.String("user", id.User), slog.String("device", id.Device), slog.String("source", src.String()))
	first := p.splice(stampUp(rawIO(c), s), rawIO(up), s)
	reason := s.EndReason(first)
	s.Cut(reason) // closes both conns if splice did not
	p.Sessions.Remove(s, reason)
	p.log().Info("session end", slog.Uint64("session", s.ID), slog.String("service", p.Service),
		slog.String("user", id.User), slog.String("device", id.Device), slog.String("reason", reason),
		slog.Int64("bytes_up", s.Up.Load()), slog.Int64("bytes_down", s.Down.Load()),
		slog.Duration("duration", time.Since(s.Start)))
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

type closeWriter interface{ CloseWrite() error }

// splice copies both ways until both directions are done, passing
// half-closes on. It returns which side closed first. Once one direction
// has ended, the other gets HalfCloseTimeout to finish; then the session
// is cut (a client that closed while the server stays silent held its
// seat for ever before).
func (p *Proxy) splice(client, upstream net.Conn, s *session.Session) string {
	var once sync.Once
	first := session.EndClientClosed
	mark := func(r string) { once.Do(func() { first = r }) }
	upDone, downDone := make(chan struct{}), make(chan struct{})
	go p.copyUp(upstream, client, s, mark, upDone, downDone)
	proxyCopy(client, upstream, &s.Down, session.EndServerClosed, mark, nil)
	close(downDone)
	p.awaitOther(upDone, s)
	return first
}

// copyUp is the client-to-server direction of a session: it copies, then
// gives the other direction HalfCloseTimeout to end, and reports on done.
func (p *Proxy) copyUp(upstream, client net.Conn, s *session.Session, mark func(string), done, otherDone chan struct{}) {
	defer close(done)
	proxyCopy(upstream, client, &s.Up, session.EndClientClosed, mark, nil)
	p.awaitOther(otherDone, s)
}

// awaitOther waits for the other direction to end, cutting the session if
// it does not within HalfCloseTimeout.
func (p *Proxy) awaitOther(other chan struct{}, s *session.Session) {
	select {
	case <-other:
		return
	default:
	}
	t := time.NewTimer(p.halfClose())
	defer t.Stop()
	select {
	case <-other:
	case <-t.C:
		s.Cut(s.EndReason(session.EndHalfClosed))
		<-other
	}
}

// smallBuf is what an idle direction holds while it waits in Read. License
// traffic is small request/response lines; a read that fills it switches
// to a pooled 32 KiB buffer until the traffic turns small again, so bulk
// transfers run at full speed and thousands of idle sessions stay cheap.
const smallBuf = 2 << 10

// proxyCopy copies src to dst, counting bytes into n. At EOF it half-closes
// dst so the other side sees the end of this direction; on any other error
// it closes both conns, which ends the opposite copy too.
func proxyCopy(dst, src net.Conn, n *atomic.Int64, reason string, mark func(string), done chan<- struct{}) {
	if done != nil {
		defer close(done)
	}
	small := make([]byte, smallBuf)
	buf := small
	var big *[]byte
	defer func() {
		if big != nil {
			bufPool.Put(big)
		}
	}()
	var err error
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			// Count before writing: the answer to these bytes may reach the
			// client before this goroutine runs again.
			n.Add(int64(nr))
			nw, werr := dst.Write(buf[:nr])
			if nw < nr {
				n.Add(int64(nw - nr))
			}
			if werr != nil {
				err = werr
				break
			}
		}
		if rerr != nil {
			if rerr != io.EOF {
				err = rerr
			}
			break
		}
		switch {
		case big == nil && nr == len(small):
			big = bufPool.Get().(*[]byte)
			buf = *big
		case big != nil && nr < smallBuf:
			bufPool.Put(big)
			big, buf = nil, small
		}
	}
	mark(reason)
	if cw, ok := dst.(closeWriter); ok && err == nil {
		if cw.CloseWrite() == nil {
			return
		}
	}
	src.Close()
	dst.Close()
}

// ServeUDP relays datagrams until pc is closed. Each client address gets
// its own upstream socket (a mapping), so replies go back to the right
// peer; a mapping ends after UDPIdleTimeout without traffic either way.
// Mappings are bounded per device and in all; a new mapping is opened
// (authorized, dialled, admitted) off the read loop, so one slow open
// never stalls the datagrams of others.
func (p *Proxy) ServeUDP(pc net.PacketConn) error {
	if !p.track(pc) {
		return net.ErrClosed
	}
	p.wg.Add(1)
	defer p.wg.Done()
	maps := &udpMaps{m: map[netip.AddrPort]*udpMapping{}, perDevice: map[int64]int{}}
	defer maps.closeAll()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || p.isClosed() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("proxy: %s: udp read: %w", p.Service, err)
		}
		src := addrPortOf(from)
		m, isNew, err := p.mappingFor(src, maps)
		if err != nil {
			p.refuse(src, nil, "udp", err)
			continue
		}
		if isNew {
			p.wg.Add(1)
			go p.openMapping(pc, from, src, m, maps)
		}
		m.send(buf[:n])
	}
}

// Errors of the UDP relay's bounds.
var (
	errTooManyDevice = errors.New("too many UDP mappings for this device (one per source port)")
	errTooMany       = errors.New("too many UDP mappings for this service")
)

// mappingFor returns src's mapping, making a pending one (counted against
// the bounds) if there is none.
func (p *Proxy) mappingFor(src netip.AddrPort, maps *udpMaps) (*udpMapping, bool, error) {
	maps.mu.Lock()
	defer maps.mu.Unlock()
	if m := maps.m[src]; m != nil {
		return m, false, nil
	}
	id, ok := p.Identify(src.Addr())
	if !ok {
		return nil, false, errUnknownSource
	}
	if len(maps.m) >= p.maxMappings() {
		return nil, false, errTooMany
	}
	if maps.perDevice[id.DeviceID] >= p.maxPerDevice() {
		return nil, false, errTooManyDevice
	}
	m := &udpMapping{id: id, ready: make(chan struct{}), queue: make(chan []byte, udpQueue)}
	maps.m[src] = m
	maps.perDevice[id.DeviceID]++
	return m, true, nil
}

// udpQueue datagrams wait while a new mapping opens; more are dropped, as
// a router would.
const udpQueue = 8

var udpBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

type udpMapping struct {
	id    *session.Identity
	s     *session.Session // set before ready closes
	up    net.Conn         // set before ready closes; nil if the open failed
	ready chan struct{}
	queue chan []byte  // datagrams that arrived while opening
	last  atomic.Int64 // unix nanos of the last datagram either way
}

// send forwards a datagram upstream, or queues it while the mapping opens.
func (m *udpMapping) send(b []byte) {
	select {
	case <-m.ready:
		if m.up == nil {
			return
		}
		m.last.Store(time.Now().UnixNano())
		m.s.Up.Add(int64(len(b))) // before the write: the reply may be quicker than us
		if _, err := m.up.Write(b); err != nil {
			m.s.Up.Add(-int64(len(b)))
		}
	default:
		select {
		case m.queue <- append([]byte(nil), b...):
		default:
		}
	}
}

type udpMaps struct {
	mu        sync.Mutex
	m         map[netip.AddrPort]*udpMapping
	perDevice map[int64]int
}

func (u *udpMaps) del(a netip.AddrPort, m *udpMapping) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m[a] == m {
		delete(u.m, a)
		if u.perDevice[m.id.DeviceID]--; u.perDevice[m.id.DeviceID] <= 0 {
			delete(u.perDevice, m.id.DeviceID)
		}
	}
}

func (u *udpMaps) closeAll() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, m := range u.m {
		select {
		case <-m.ready:
			if m.s != nil {
				m.s.Cut(session.EndShutdown)
			}
		default:
		}
	}
}

// openMapping authorizes, dials and admits a new mapping, then relays the
// upstream's answers until it ends.
func (p *Proxy) openMapping(pc net.PacketConn, to net.Addr, src netip.AddrPort, m *udpMapping, maps *udpMaps) {
	defer p.wg.Done()
	fail := func(err error) {
		if err != nil {
			p.refuse(src, m.id, "udp", err)
		}
		close(m.ready)
		maps.del(src, m)
	}
	if _, err := p.Authorize(m.id, p.Service, nil); err != nil {
		fail(err)
		return
	}
	up, err := p.dial(p.context(), src.Addr(), "udp")
	if err != nil {
		p.log().Warn("upstream dial failed", slog.String("service", p.Service), slog.String("proto", "udp"), slog.String("err", err.Error()))
		fail(nil)
		return
	}
	s := &session.Session{Service: p.Service, Proto: "udp", DeviceID: m.id.DeviceID, Device: m.id.Device, User: m.id.User,
		Client: src, Start: time.Now(), Conns: []net.Conn{up}, CountUDP: p.CountUDP, NoSeat: p.NoSeats, Port: p.Port}
	if err := p.Sessions.Admit(s, p.decider(src.Addr())); err != nil {
		up.Close()
		fail(err)
		return
	}
	if p.isClosed() {
		s.Cut(session.EndShutdown)
	}
	m.s, m.up = s, up
	m.last.Store(time.Now().UnixNano())
	close(m.ready)
	for len(m.queue) > 0 {
		m.send(<-m.queue)
	}
	p.udpReplies(pc, to, src, m, maps)
}

// udpReplies sends the upstream's datagrams back to the client until the
// mapping is idle, cut, or the listener closes.
func (p *Proxy) udpReplies(pc net.PacketConn, to net.Addr, src netip.AddrPort, m *udpMapping, maps *udpMaps) {
	idle := p.udpIdle()
	bp := udpBufs.Get().(*[]byte)
	defer udpBufs.Put(bp)
	buf := *bp
	reason := session.EndIdle
	for {
		m.up.SetReadDeadline(time.Unix(0, m.last.Load()).Add(idle))
		n, err := m.up.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if time.Since(time.Unix(0, m.last.Load())) < idle {
					continue
				}
				break
			}
			reason = session.EndServerClosed
			break
		}
		m.last.Store(time.Now().UnixNano())
		m.s.Down.Add(int64(n))
		if _, err := pc.WriteTo(buf[:n], to); err != nil {
			m.s.Down.Add(-int64(n))
			reason = session.EndError
			break
		}
	}
	maps.del(src, m)
	reason = m.s.EndReason(reason)
	m.s.Cut(reason)
	p.Sessions.Remove(m.s, reason)
	p.log().Debug("udp mapping end", slog.String("service", p.Service), slog.String("source", src.String()), slog.String("reason", reason))
}
