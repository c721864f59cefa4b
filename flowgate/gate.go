package flowgate

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/session"
)

// Service is one forwarded port: what peers send to the gateway's tunnel
// address at Proto/Port goes to Upstream, and the replies come back from
// the gateway's address.
type Service struct {
	Name     string
	Proto    uint8          // ProtoTCP or ProtoUDP
	Port     uint16         // on the gateway's tunnel address
	Upstream netip.AddrPort // the license server (IPv4)
	// NoSeat: connections on this port hold no seats (see
	// session.Session.NoSeat); CountUDP: UDP flows count against caps.
	NoSeat, CountUDP bool
}

// Admission is how a Gate decides (the gateway: identity and admission).
type Admission interface {
	// Identify maps a (WireGuard-authenticated) tunnel address to a device.
	Identify(netip.Addr) (*session.Identity, bool)
	// Authorize decides, as the proxy's Authorize: with nil counts before
	// the session table is asked, with the live counts under its lock.
	Authorize(id *session.Identity, service string, counts acl.Counts) (session.Admission, error)
}

// Config is what a Gate decides with. Gateway, Admission and Sessions
// are required.
type Config struct {
	// Gateway is the gateway's tunnel address (IPv4).
	Gateway netip.Addr
	// Services are forwarded ports given directly (tests); the gateway
	// gives Ports, which New plans into more of them.
	Services []Service
	// Ports are configured service ports, planned into Services (Plan)
	// with Subnet and Interface; Gate.Routing is what the host needs.
	Ports     []Port
	Subnet    netip.Prefix
	Interface string
	// Admission identifies devices and authorizes flows (required).
	Admission Admission
	// Sessions records every admitted flow as a session: caps, listing,
	// audit, re-evaluation and cuts work as for proxied sessions.
	Sessions *session.SessionTable
	// OnDeny, if set, is told of every refused flow.
	OnDeny func(session.Denial)
	// TCPIdle ends a TCP flow after this much silence. If zero, 1h (the
	// enforcement loop cuts the flows of peers that vanished sooner).
	TCPIdle time.Duration
	// UDPIdle ends a UDP flow after this much silence. If zero, 60s.
	UDPIdle time.Duration
	// HalfClose ends a TCP flow this long after one side sent FIN while
	// the other stays silent. If zero, 60s.
	HalfClose time.Duration
	// Linger keeps an ended flow's entry this long, so the last ACKs of a
	// close pass and stray packets of a cut flow are dropped. If zero, 5s.
	Linger time.Duration
	// Logger; if nil, discarded.
	Logger *slog.Logger
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Stats counts what the gate did.
type Stats struct {
	Admitted, Refused uint64 // flows
	Forwarded         uint64 // packets, both ways
	DroppedUnknown    uint64 // packets of no flow (e.g. a TCP segment without SYN)
	DroppedCut        uint64 // packets of a cut flow
	// DroppedToPeer counts packets the host routed toward peers that
	// neither come from the gateway's address nor belong to a flow
	// (e.g. from the LAN, now that the host forwards).
	DroppedToPeer uint64
}

type svcKey struct {
	proto uint8
	port  uint16
}

type upKey struct {
	proto uint8
	up    netip.AddrPort
}

// flowKey names a flow by its client end and the gateway port it uses.
type flowKey struct {
	client netip.AddrPort
	proto  uint8
	port   uint16
}

// flow is one admitted connection (TCP) or mapping (UDP).
type flow struct {
	key  flowKey
	svc  *Service
	s    *session.Session
	last atomic.Int64 // unix nanoseconds of the last packet either way
	// cliNext and srvNext are each side's next sequence number as last
	// seen (TCP): a reset must carry them to be accepted.
	cliNext, srvNext atomic.Uint32
	// cliAck and srvAck are what each side last acknowledged: the other
	// side's next expected sequence number then (RFC 5961 accepts a reset
	// only at exactly that number; data in flight moves it past cliNext's
	// view, so a cut sends a reset at both).
	cliAck, srvAck atomic.Uint32
	finUp, finDown atomic.Bool
	halfSince      atomic.Int64 // when the first FIN was seen
	cut            atomic.Bool  // no packet passes any more
	ended          atomic.Bool  // the session was removed
	endedAt        atomic.Int64
}

// Gate is the forwarding mode's packet filter. New makes one; Wrap puts
// it between wireguard-go and the TUN device (tunnel.NewTUNWrapped).
//
// Packets from peers (Write): a packet to a forwarded service on the
// gateway's address belongs to a flow; a new flow (a TCP SYN, or any UDP
// datagram) is decided at once, with the caps under the session table's
// lock; an admitted flow's packets are rewritten to the upstream and
// written to the OS, which forwards them. A refused TCP flow is answered
// with a reset; a TCP segment of no flow is dropped. Everything else goes
// to the device's own filter (the gateway's listeners).
//
// Packets to peers (Read): the upstream's replies in a flow are rewritten
// to come from the gateway's address; replies of no flow are dropped.
//
// Cutting a flow's session (revoke, policy, admin) sends a reset to both
// ends and drops whatever else the flow sends.
type Gate struct {
	cfg   Config
	log   *slog.Logger
	gw    netip.Addr
	bySvc map[svcKey]*Service
	byUp  map[upKey]*Service

	routing Routing

	mu    sync.RWMutex
	flows map[flowKey]*flow

	raw    tun.Device // the OS TUN device
	offset atomic.Int64

	// Packets toward peers wait in inject until Read returns them; wake
	// pings the host so that a Read blocked on the OS returns.
	injMu   sync.Mutex
	inject  [][]byte
	reading atomic.Bool
	wakeID  uint16
	waking  atomic.Bool

	admitted, refused, forwarded, unknown, dropCut, notGateway atomic.Uint64

	closeOnce sync.Once
	done      chan struct{}
	reaped    chan struct{}
}

// New checks cfg and returns a Gate; nothing runs until Wrap.
func New(cfg Config) (*Gate, error) {
	if !cfg.Gateway.Is4() {
		return nil, fmt.Errorf("flowgate: gateway address %s: forwarding needs an IPv4 tunnel address", cfg.Gateway)
	}
	if cfg.Admission == nil || cfg.Sessions == nil {
		return nil, errors.New("flowgate: Admission and Sessions are required")
	}
	svcs, routing, err := Plan(cfg.Ports, cfg.Subnet, cfg.Interface)
	if err != nil {
		return nil, err
	}
	cfg.Services = append(svcs, cfg.Services...)
	g := &Gate{cfg: cfg, log: cfg.Logger, gw: cfg.Gateway, bySvc: map[svcKey]*Service{}, byUp: map[upKey]*Service{},
		routing: routing, flows: map[flowKey]*flow{}, done: make(chan struct{}), reaped: make(chan struct{})}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	for i := range cfg.Services {
		s := &cfg.Services[i]
		if s.Proto != ProtoTCP && s.Proto != ProtoUDP {
			return nil, fmt.Errorf("flowgate: service %s: protocol %d is not tcp or udp", s.Name, s.Proto)
		}
		if !s.Upstream.Addr().Unmap().Is4() || s.Upstream.Port() == 0 {
			return nil, fmt.Errorf("flowgate: service %s: upstream %s: forwarding needs an IPv4 address and port", s.Name, s.Upstream)
		}
		s.Upstream = netip.AddrPortFrom(s.Upstream.Addr().Unmap(), s.Upstream.Port())
		g.bySvc[svcKey{s.Proto, s.Port}] = s
		g.byUp[upKey{s.Proto, s.Upstream}] = s
	}
	var id [2]byte
	rand.Read(id[:])
	g.wakeID = binary.BigEndian.Uint16(id[:]) | 1
	return g, nil
}

// Wrap returns the device wireguard-go runs on: raw is the OS TUN
// device, filtered the same device behind the tunnel package's own
// filter (the gateway's listeners), which gets every packet the gate does
// not forward. The returned device's Close ends every flow's session.
func (g *Gate) Wrap(raw, filtered tun.Device) tun.Device {
	g.raw = raw
	go g.reap()
	return &wrapped{Device: filtered, g: g}
}

// Routing is what the host needs for the planned Ports (Config.Ports).
func (g *Gate) Routing() Routing { return g.routing }

// Stats reports the counters.
func (g *Gate) Stats() Stats {
	return Stats{Admitted: g.admitted.Load(), Refused: g.refused.Load(), Forwarded: g.forwarded.Load(),
		DroppedUnknown: g.unknown.Load(), DroppedCut: g.dropCut.Load(), DroppedToPeer: g.notGateway.Load()}
}

// Flows is the number of flows in the table (ended ones linger briefly).
func (g *Gate) Flows() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.flows)
}

type wrapped struct {
	tun.Device
	g *Gate
}

type verdict uint8

const (
	toFilter verdict = iota
	forward
	drop
)

// Write implements tun.Device: forwarded packets go to the OS device,
// the rest through the tunnel's filter. Dropped packets count as written.
func (w *wrapped) Write(bufs [][]byte, offset int) (int, error) {
	g := w.g
	g.offset.Store(int64(offset))
	n := len(bufs)
	f, j := 0, 0 // bufs[:f] forwarded, bufs[f:j] for the filter
	var p Packet
	for i := 0; i < n; i++ {
		switch g.fromPeer(bufs[i][offset:], &p) {
		case forward:
			bufs[j] = bufs[i]
			bufs[f], bufs[j] = bufs[j], bufs[f]
			f++
			j++
		case toFilter:
			bufs[j] = bufs[i]
			j++
		}
	}
	if f > 0 {
		if _, err := g.raw.Write(bufs[:f], offset); err != nil {
			return 0, err
		}
	}
	if j > f {
		if _, err := w.Device.Write(bufs[f:j], offset); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// Read implements tun.Device: packets from the OS to peers, the
// upstream's replies rewritten, and the resets the gate sends.
func (w *wrapped) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	g := w.g
	g.reading.Store(true) // before draining: see queue
	if n := g.drain(bufs, sizes, offset); n > 0 {
		g.reading.Store(false)
		return n, nil
	}
	n, err := g.raw.Read(bufs, sizes, offset)
	g.reading.Store(false)
	g.waking.Store(false) // awake: a lost answer must not block later wake-ups
	var p Packet
	for i := 0; i < n; i++ {
		if sizes[i] > 0 && !g.toPeer(bufs[i][offset:offset+sizes[i]], &p) {
			sizes[i] = 0 // wireguard-go skips empty slots
		}
	}
	if n < len(bufs) {
		n += g.drain(bufs[n:], sizes[n:], offset)
	}
	return n, err
}

// Close ends every flow's session, then closes the device.
func (w *wrapped) Close() error {
	w.g.close()
	return w.Device.Close()
}

func (g *Gate) close() {
	g.closeOnce.Do(func() {
		close(g.done)
		<-g.reaped
		g.mu.Lock()
		all := make([]*flow, 0, len(g.flows))
		for _, f := range g.flows {
			all = append(all, f)
		}
		g.mu.Unlock()
		for _, f := range all {
			f.s.Cut(session.EndShutdown)
		}
	})
}

// fromPeer decides one packet a peer sent.
func (g *Gate) fromPeer(b []byte, p *Packet) verdict {
	if !Parse(b, p) || p.V6 || p.Dst != g.gw || p.Fragment || (p.Proto != ProtoTCP && p.Proto != ProtoUDP) {
		return toFilter
	}
	svc := g.bySvc[svcKey{p.Proto, p.DstPort}]
	if svc == nil {
		return toFilter
	}
	key := flowKey{netip.AddrPortFrom(p.Src, p.SrcPort), p.Proto, p.DstPort}
	g.mu.RLock()
	f := g.flows[key]
	g.mu.RUnlock()
	if f != nil && f.ended.Load() && (p.Proto == ProtoUDP || p.SYN()) {
		f = nil // a new flow on the tuple of one that ended (its entry lingers)
	}
	if f == nil {
		if p.Proto == ProtoTCP && !p.SYN() {
			g.unknown.Add(1)
			return drop
		}
		if f = g.admit(key, svc, b, p); f == nil {
			return drop
		}
	}
	if f.cut.Load() {
		g.dropCut.Add(1)
		return drop
	}
	now := time.Now().UnixNano()
	f.last.Store(now)
	if !f.ended.Load() {
		f.s.LastUp.Store(now)
		f.s.Up.Add(int64(g.payload(b, p)))
	}
	if p.Proto == ProtoTCP {
		advance(&f.cliNext, p.Seq+p.seqSpace())
		if p.Flags&flagACK != 0 {
			f.cliAck.Store(p.Ack)
		}
		switch {
		case p.RST():
			defer g.end(f, session.EndClientClosed)
		case p.FIN():
			g.fin(f, &f.finUp, &f.finDown, session.EndClientClosed)
		}
	}
	rewrite4(b, p, false, svc.Upstream)
	g.forwarded.Add(1)
	return forward
}

// toPeer handles one packet the OS sends to a peer; false drops it.
func (g *Gate) toPeer(b []byte, p *Packet) bool {
	if !Parse(b, p) {
		return true
	}
	if isEchoReply4(b, p, g.wakeID) && p.Src == g.gw {
		g.waking.Store(false)
		return false // the wake-up ping's answer
	}
	if p.V6 {
		return true
	}
	// With ip_forward on, the host would route anything to the tunnel
	// subnet into the interface: toward peers go only the gateway's own
	// packets and the flows' replies (fail closed both ways).
	var svc *Service
	if !p.Fragment && (p.Proto == ProtoTCP || p.Proto == ProtoUDP) {
		svc = g.byUp[upKey{p.Proto, netip.AddrPortFrom(p.Src, p.SrcPort)}]
	}
	if svc == nil {
		if p.Src != g.gw {
			g.notGateway.Add(1)
			return false
		}
		return true
	}
	g.mu.RLock()
	f := g.flows[flowKey{netip.AddrPortFrom(p.Dst, p.DstPort), p.Proto, svc.Port}]
	g.mu.RUnlock()
	if f == nil {
		g.unknown.Add(1)
		return false
	}
	if f.cut.Load() {
		g.dropCut.Add(1)
		return false
	}
	f.last.Store(time.Now().UnixNano())
	if !f.ended.Load() {
		f.s.Down.Add(int64(g.payload(b, p)))
	}
	if p.Proto == ProtoTCP {
		advance(&f.srvNext, p.Seq+p.seqSpace())
		if p.Flags&flagACK != 0 {
			f.srvAck.Store(p.Ack)
		}
		switch {
		case p.RST():
			defer g.end(f, session.EndServerClosed)
		case p.FIN():
			g.fin(f, &f.finDown, &f.finUp, session.EndServerClosed)
		}
	}
	rewrite4(b, p, true, netip.AddrPortFrom(g.gw, svc.Port))
	g.forwarded.Add(1)
	return true
}

// payload is the bytes a packet carries above its transport header.
func (g *Gate) payload(b []byte, p *Packet) int {
	if p.Proto == ProtoTCP {
		return p.Payload
	}
	return int(binary.BigEndian.Uint16(b[2:4])) - p.l4 - 8
}

// advance moves a sequence number forward (never back: retransmissions).
func advance(v *atomic.Uint32, next uint32) {
	if cur := v.Load(); cur == 0 || int32(next-cur) > 0 {
		v.Store(next)
	}
}

// fin records a FIN one way; the second way's FIN ends the session (the
// entry lingers for the last ACKs).
func (g *Gate) fin(f *flow, mine, other *atomic.Bool, reason string) {
	mine.Store(true)
	if other.Load() {
		g.end(f, f.s.EndReason(reason))
		return
	}
	f.halfSince.CompareAndSwap(0, time.Now().UnixNano())
}

var errUnknownSource = errors.New("no device has this tunnel address")

// admit decides a new flow; nil means refused (a TCP client got a reset).
func (g *Gate) admit(key flowKey, svc *Service, b []byte, p *Packet) *flow {
	id, ok := g.cfg.Admission.Identify(p.Src)
	if !ok {
		g.refuse(key, svc, nil, errUnknownSource, p)
		return nil
	}
	if _, err := g.cfg.Admission.Authorize(id, svc.Name, nil); err != nil {
		g.refuse(key, svc, id, err, p)
		return nil
	}
	proto := "tcp"
	if svc.Proto == ProtoUDP {
		proto = "udp"
	}
	f := &flow{key: key, svc: svc}
	now := time.Now()
	f.last.Store(now.UnixNano())
	s := &session.Session{Service: svc.Name, Proto: proto, DeviceID: id.DeviceID, Device: id.Device, User: id.User,
		Client: key.client, Start: now, Conns: []net.Conn{cutConn{g: g, f: f}}, NoSeat: svc.NoSeat,
		CountUDP: svc.CountUDP, Port: int(svc.Port)}
	s.LastUp.Store(now.UnixNano())
	f.s = s
	src := p.Src
	// Identity and authorization are read again under the table lock,
	// with the live counts: caps hold, and a revoke that raced wins.
	err := g.cfg.Sessions.Admit(s, func(s *session.Session, counts acl.Counts) (session.Admission, error) {
		id, ok := g.cfg.Admission.Identify(src)
		if !ok {
			return session.Admission{}, errUnknownSource
		}
		return g.cfg.Admission.Authorize(id, svc.Name, counts)
	})
	if err != nil {
		g.refuse(key, svc, id, err, p)
		return nil
	}
	g.mu.Lock()
	g.flows[key] = f
	g.mu.Unlock()
	g.admitted.Add(1)
	g.log.Info("session start", slog.Uint64("session", s.ID), slog.String("service", svc.Name), slog.String("proto", proto),
		slog.String("user", id.User), slog.String("device", id.Device), slog.String("source", key.client.String()),
		slog.String("mode", "forward"))
	if session.IsCut(s) { // cut while it was being admitted: its Close ran before the flow was in the table
		f.cut.Store(true)
		g.end(f, s.EndReason(session.EndAdmin))
	}
	return f
}

// refuse records a refused flow and answers a TCP client with a reset.
func (g *Gate) refuse(key flowKey, svc *Service, id *session.Identity, err error, p *Packet) {
	g.refused.Add(1)
	proto := "tcp"
	if svc.Proto == ProtoUDP {
		proto = "udp"
	}
	d := session.Denial{Time: time.Now(), Service: svc.Name, Proto: proto, Source: key.client, Rule: -1, Kind: session.DenyKindOther, Reason: err.Error()}
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
	g.log.Info("connection refused", slog.String("service", svc.Name), slog.String("proto", proto),
		slog.String("source", key.client.String()), slog.String("user", d.User), slog.String("device", d.Device),
		slog.String("reason", d.Reason), slog.String("mode", "forward"))
	if g.cfg.OnDeny != nil {
		g.cfg.OnDeny(d)
	}
	if p.Proto == ProtoTCP {
		b := make([]byte, 40)
		buildRST4(b, netip.AddrPortFrom(g.gw, svc.Port), key.client, 0, p.Seq+p.seqSpace(), true)
		g.toPeers(b)
	}
}

// cutConn stands for a flow in its session's Conns: Session.Cut closes it.
type cutConn struct {
	net.Conn // nil: only Close is called
	g        *Gate
	f        *flow
}

func (c cutConn) Close() error {
	c.g.cut(c.f)
	return nil
}

// cut resets both ends of a TCP flow (a UDP flow is just dropped from
// now on) and ends its session.
func (g *Gate) cut(f *flow) {
	if !f.cut.CompareAndSwap(false, true) {
		return
	}
	if f.svc.Proto == ProtoTCP && !f.ended.Load() {
		// Toward the license server, as the client: it frees the seat.
		// Toward the device, as the gateway's service.
		for _, seq := range seqs(f.cliNext.Load(), f.srvAck.Load()) {
			g.rstToServer(f, seq)
		}
		for _, seq := range seqs(f.srvNext.Load(), f.cliAck.Load()) {
			c := make([]byte, 40)
			buildRST4(c, netip.AddrPortFrom(g.gw, f.svc.Port), f.key.client, seq, f.cliNext.Load(), true)
			g.toPeers(c)
		}
	}
	g.end(f, f.s.EndReason(session.EndAdmin))
}

// seqs are the sequence numbers a reset is sent at: what the sender
// sent last and what the receiver acknowledged last (when known and
// different).
func seqs(next, acked uint32) []uint32 {
	if acked == 0 || acked == next {
		return []uint32{next}
	}
	return []uint32{acked, next}
}

// rstToServer writes a reset from the flow's client to its upstream.
func (g *Gate) rstToServer(f *flow, seq uint32) {
	off := int(g.offset.Load())
	if off == 0 {
		off = 16 // wireguard-go's transport header, before its first Write
	}
	b := make([]byte, off+40)
	buildRST4(b[off:], f.key.client, f.svc.Upstream, seq, 0, false)
	if _, err := g.raw.Write([][]byte{b}, off); err != nil {
		g.log.Warn("reset toward the license server", slog.String("err", err.Error()))
	}
}

// end removes f's session once; the entry lingers (see Config.Linger).
func (g *Gate) end(f *flow, reason string) {
	if !f.ended.CompareAndSwap(false, true) {
		return
	}
	f.endedAt.Store(time.Now().UnixNano())
	s := f.s
	g.cfg.Sessions.Remove(s, reason)
	g.log.Info("session end", slog.Uint64("session", s.ID), slog.String("service", s.Service),
		slog.String("user", s.User), slog.String("device", s.Device), slog.String("reason", reason),
		slog.Int64("bytes_up", s.Up.Load()), slog.Int64("bytes_down", s.Down.Load()),
		slog.Duration("duration", time.Since(s.Start)), slog.String("mode", "forward"))
}

// toPeers queues a packet for Read and, if Read is blocked on the OS,
// wakes it.
func (g *Gate) toPeers(pkt []byte) {
	g.injMu.Lock()
	g.inject = append(g.inject, pkt)
	g.injMu.Unlock()
	if g.reading.Load() {
		g.wake(pkt)
	}
}

// wake makes a Read blocked on the OS device return: it writes an echo
// request from the queued packet's destination (a device's tunnel
// address, routed to this interface) to the gateway's address; the host
// answers it through the interface, and Read drops the answer and returns
// the queued packets. This keeps the data path free of a goroutine
// hand-off between the OS and wireguard-go, which a pump would cost on
// every batch. A host that ignores echo requests
// (net.ipv4.icmp_echo_ignore_all) delays the reset toward the device
// until the next packet toward any peer (a keepalive at the latest).
func (g *Gate) wake(pkt []byte) {
	if !g.waking.CompareAndSwap(false, true) {
		return
	}
	off := int(g.offset.Load())
	if off == 0 {
		off = 16
	}
	b := make([]byte, off+28)
	dst := netip.AddrFrom4([4]byte(pkt[16:20]))
	buildEcho4(b[off:], dst, g.gw, g.wakeID)
	if _, err := g.raw.Write([][]byte{b}, off); err != nil {
		g.waking.Store(false)
		g.log.Warn("waking the tunnel reader", slog.String("err", err.Error()))
	}
}

// drain moves queued packets into Read's buffers.
func (g *Gate) drain(bufs [][]byte, sizes []int, offset int) int {
	g.injMu.Lock()
	defer g.injMu.Unlock()
	n := 0
	for n < len(bufs) && len(g.inject) > 0 {
		sizes[n] = copy(bufs[n][offset:], g.inject[0])
		g.inject[0] = nil
		g.inject = g.inject[1:]
		n++
	}
	if len(g.inject) == 0 {
		g.inject = nil
	}
	return n
}

// reap ends idle and half-closed flows and forgets ended ones.
func (g *Gate) reap() {
	defer close(g.reaped)
	tcpIdle, udpIdle := orDefault(g.cfg.TCPIdle, time.Hour), orDefault(g.cfg.UDPIdle, 60*time.Second)
	half, linger := orDefault(g.cfg.HalfClose, 60*time.Second), orDefault(g.cfg.Linger, 5*time.Second)
	tick := time.NewTicker(min(time.Second, linger, udpIdle/2, half/2))
	defer tick.Stop()
	for {
		select {
		case <-g.done:
			return
		case <-tick.C:
		}
		now := time.Now().UnixNano()
		var idle, halfClosed, gone []*flow
		g.mu.RLock()
		for _, f := range g.flows {
			switch {
			case f.ended.Load():
				if now-f.endedAt.Load() > int64(linger) {
					gone = append(gone, f)
				}
			case f.svc.Proto == ProtoUDP && now-f.last.Load() > int64(udpIdle),
				f.svc.Proto == ProtoTCP && now-f.last.Load() > int64(tcpIdle):
				idle = append(idle, f)
			case f.halfSince.Load() != 0 && now-f.last.Load() > int64(half):
				halfClosed = append(halfClosed, f)
			}
		}
		g.mu.RUnlock()
		for _, f := range idle {
			f.s.Cut(session.EndIdle)
		}
		for _, f := range halfClosed {
			f.s.Cut(session.EndHalfClosed)
		}
		if len(gone) > 0 {
			g.mu.Lock()
			for _, f := range gone {
				if g.flows[f.key] == f {
					delete(g.flows, f.key)
				}
			}
			g.mu.Unlock()
		}
	}
}
