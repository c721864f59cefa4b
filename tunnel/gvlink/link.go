// Package gvlink is licgate's link between wireguard-go and a gVisor
// network stack (netstack mode): it replaces wireguard-go's tun/netstack
// so that licgate can tune the stack and its link.
package gvlink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.zx2c4.com/wireguard/tun"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// netTUN joins wireguard-go to a gVisor stack: wireguard-go reads the
// packets the stack sends (Read) and writes the packets it decrypted
// (Write). It replaces wireguard-go's tun/netstack so that licgate can tune
// the stack and its link:
//
//   - Read hands wireguard-go every queued packet at once (a batch), and the
//     stack does not wait for wireguard-go to take each packet (only when
//     maxQueued are waiting);
//   - pure ACKs may be delayed (AckDelay): gVisor acknowledges every segment
//     at once, so a request through the proxy cost two packets back to the
//     client, an ACK and then the reply. A held ACK is dropped when a packet
//     of the same connection carrying the same or a later acknowledgment
//     (the reply) leaves within the delay, and sent when the delay runs out,
//     or at once when another ACK follows (so bulk transfers are still
//     acknowledged every second segment). Duplicate ACKs that carry SACK
//     blocks are never held. This is TCP's delayed ACK (RFC 9293 3.8.6.3),
//     with a far shorter delay than the usual 40-200 ms.
type netTUN struct {
	ep     *channel.Endpoint
	stack  *stack.Stack
	events chan tun.Event
	mtu    int

	ackDelay time.Duration
	traffic  *atomic.Uint64 // bytes both ways, for the trimmer; nil for none

	mu     sync.Mutex
	queue  []*stack.PacketBuffer // outbound, oldest first
	ready  chan struct{}         // a packet was queued (capacity 1)
	space  *sync.Cond            // the queue has room again (on mu)
	full   int                   // senders waiting on space
	done   chan struct{}         // closed by Close
	closed bool
	held   map[flowKey]heldAck
	heldQ  []heldRef // in deadline order; stale when held has no entry of that gen
	gen    uint64
	timer  *time.Timer
	armed  bool
	acks   AckStats
}

// AckStats counts what happened to the bare ACKs a netstack device held
// (Config.AckDelay).
type AckStats struct {
	Held    uint64 // bare ACKs held back
	Carried uint64 // ... dropped because a packet carrying the same acknowledgment left (a packet saved)
	Sent    uint64 // ... sent on their own after all (delay ran out, or another ACK or a SACK followed)
}

// maxQueued bounds the outbound queue: when it is full the stack's sender
// waits for wireguard-go to take packets (backpressure, as with
// wireguard-go's own tun/netstack), rather than dropping them and leaving
// TCP to find out by timeout.
const maxQueued = 2048

// TCP buffer sizes of the gateway's stack (gVisor's defaults: 1 MiB,
// receive windows growing to 4 MiB). A window bounds the data in flight
// towards the stack, and in netstack mode every packet in flight holds a
// whole wireguard-go message buffer (64 KiB for a packet of at most
// 1,420 bytes) in wireguard-go's queues: a bulk upload with a 4 MiB
// window could pin 190 MB, which then stays in wireguard-go's buffer pool
// until the collector runs twice. License traffic is requests and answers
// of a few hundred bytes; 256 KiB still fills a 100 Mbit/s path with a
// 20 ms round trip. The receive window starts at the default and grows
// with the transfer (gVisor's receive buffer moderation) up to the
// maximum.
const (
	tcpBufferDefault = 64 << 10
	tcpBufferMax     = 256 << 10
)

// tunBatch is how many packets one Read may return. wireguard-go's TUN
// reader holds a 64 KiB message buffer per slot (see wgtune.BindBatch): 16 is
// 1 MiB, and license traffic rarely queues more.
const tunBatch = 16

type flowKey struct {
	src, dst   tcpip.Address
	sport, dpt uint16
}

type heldAck struct {
	ack uint32
	pkt *stack.PacketBuffer
	gen uint64
}

type heldRef struct {
	key      flowKey
	gen      uint64
	deadline time.Time
}

// link is the stack's side: it takes the stack's outbound packets.
type link struct {
	*channel.Endpoint
	t *netTUN
}

func (l link) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	return l.t.send(pkts.AsSlice())
}

func newNetTUN(addrs []netip.Addr, mtu int, ackDelay time.Duration) (*netTUN, error) {
	t := &netTUN{
		ep:       channel.New(0, uint32(mtu), ""),
		stack:    stack.New(stack.Options{NetworkProtocols: []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol}, TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6}, HandleLocal: true}),
		events:   make(chan tun.Event, 1),
		mtu:      mtu,
		ackDelay: ackDelay,
		ready:    make(chan struct{}, 1),
		done:     make(chan struct{}),
		held:     map[flowKey]heldAck{},
	}
	t.space = sync.NewCond(&t.mu)
	t.timer = time.AfterFunc(time.Hour, t.expire)
	t.timer.Stop()
	sack := tcpip.TCPSACKEnabled(true)
	if err := t.stack.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); err != nil {
		return nil, fmt.Errorf("enable TCP SACK: %v", err)
	}
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: tcp.MinBufferSize, Default: tcpBufferDefault, Max: tcpBufferMax}
	if err := t.stack.SetTransportProtocolOption(tcp.ProtocolNumber, &rcv); err != nil {
		return nil, fmt.Errorf("set TCP receive buffer sizes: %v", err)
	}
	snd := tcpip.TCPSendBufferSizeRangeOption{Min: tcp.MinBufferSize, Default: tcpBufferDefault, Max: tcpBufferMax}
	if err := t.stack.SetTransportProtocolOption(tcp.ProtocolNumber, &snd); err != nil {
		return nil, fmt.Errorf("set TCP send buffer sizes: %v", err)
	}
	if err := t.stack.CreateNIC(1, link{t.ep, t}); err != nil {
		return nil, fmt.Errorf("create NIC: %v", err)
	}
	var v4, v6 bool
	for _, a := range addrs {
		proto := ipv4.ProtocolNumber
		if a.Is6() {
			proto, v6 = ipv6.ProtocolNumber, true
		} else {
			v4 = true
		}
		pa := tcpip.ProtocolAddress{Protocol: proto, AddressWithPrefix: tcpip.AddrFromSlice(a.AsSlice()).WithPrefix()}
		if err := t.stack.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
			return nil, fmt.Errorf("add address %s: %v", a, err)
		}
	}
	if v4 {
		t.stack.AddRoute(tcpip.Route{Destination: header.IPv4EmptySubnet, NIC: 1})
	}
	if v6 {
		t.stack.AddRoute(tcpip.Route{Destination: header.IPv6EmptySubnet, NIC: 1})
	}
	t.events <- tun.EventUp
	return t, nil
}

// send queues the stack's outbound packets for wireguard-go, holding or
// dropping pure ACKs as described on netTUN.
func (t *netTUN) send(pkts []*stack.PacketBuffer) (int, tcpip.Error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return 0, &tcpip.ErrClosedForSend{}
	}
	n := 0
	for _, pkt := range pkts {
		for len(t.queue) >= maxQueued && !t.closed {
			t.signal()
			t.full++
			t.space.Wait()
			t.full--
		}
		if t.closed {
			return n, &tcpip.ErrClosedForSend{}
		}
		n++
		if t.ackDelay > 0 {
			if key, ack, kind := tcpInfo(pkt); kind != notAck {
				if h, ok := t.held[key]; ok {
					delete(t.held, key)
					if kind == carrier && seqAtLeast(ack, h.ack) {
						h.pkt.DecRef() // the answer carries this acknowledgment
						t.acks.Carried++
					} else {
						t.queue = append(t.queue, h.pkt)
						t.acks.Sent++
					}
					// The timer stays armed: stopping and re-arming it for
					// every request costs more (an earlier timer wakes the
					// runtime's network poller) than one idle expiry per
					// delay.
				} else if kind == bareAck {
					t.hold(key, ack, pkt)
					continue
				}
			}
		}
		pkt.IncRef()
		t.queue = append(t.queue, pkt)
	}
	t.signal()
	return n, nil
}

func (t *netTUN) signal() {
	if len(t.queue) == 0 {
		return
	}
	select {
	case t.ready <- struct{}{}:
	default:
	}
}

// hold keeps a pure ACK back for up to ackDelay.
func (t *netTUN) hold(key flowKey, ack uint32, pkt *stack.PacketBuffer) {
	pkt.IncRef()
	t.acks.Held++
	t.gen++
	t.held[key] = heldAck{ack: ack, pkt: pkt, gen: t.gen}
	t.heldQ = append(t.heldQ, heldRef{key: key, gen: t.gen, deadline: time.Now().Add(t.ackDelay)})
	if !t.armed {
		t.armed = true
		t.timer.Reset(t.ackDelay)
	}
}

// expire sends the ACKs whose delay ran out.
func (t *netTUN) expire() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.armed = false
	if t.closed {
		return
	}
	now := time.Now()
	i := 0
	for ; i < len(t.heldQ); i++ {
		r := t.heldQ[i]
		h, ok := t.held[r.key]
		if !ok || h.gen != r.gen {
			continue // settled by a later packet
		}
		if r.deadline.After(now) {
			break
		}
		delete(t.held, r.key)
		t.queue = append(t.queue, h.pkt)
		t.acks.Sent++
	}
	t.heldQ = t.heldQ[:copy(t.heldQ, t.heldQ[i:])]
	if len(t.heldQ) > 0 {
		t.armed = true
		t.timer.Reset(t.heldQ[0].deadline.Sub(now))
	}
	t.signal()
}

// seqAtLeast reports a >= b in TCP sequence space.
func seqAtLeast(a, b uint32) bool { return int32(a-b) >= 0 }

// ackKind sorts outbound packets for holding ACKs.
type ackKind int

const (
	notAck  ackKind = iota // not TCP, or no ACK flag (a SYN)
	bareAck                // ACK flag alone, no payload, no SACK: may be held
	sackAck                // a bare ACK with SACK blocks (a duplicate ACK): never held, never replaces one
	carrier                // data, FIN or RST with an acknowledgment: replaces a held ACK
)

// tcpInfo reads an outbound TCP packet's connection, acknowledgment number
// and kind.
func tcpInfo(pkt *stack.PacketBuffer) (key flowKey, ack uint32, kind ackKind) {
	th := header.TCP(pkt.TransportHeader().Slice())
	if pkt.TransportProtocolNumber != header.TCPProtocolNumber || len(th) < header.TCPMinimumSize {
		return key, 0, notAck
	}
	flags := th.Flags()
	if flags&header.TCPFlagAck == 0 || flags&header.TCPFlagSyn != 0 {
		return key, 0, notAck
	}
	nh := pkt.NetworkHeader().Slice()
	switch pkt.NetworkProtocolNumber {
	case header.IPv4ProtocolNumber:
		ip := header.IPv4(nh)
		if len(nh) < header.IPv4MinimumSize {
			return key, 0, notAck
		}
		key.src, key.dst = ip.SourceAddress(), ip.DestinationAddress()
	case header.IPv6ProtocolNumber:
		ip := header.IPv6(nh)
		if len(nh) < header.IPv6MinimumSize {
			return key, 0, notAck
		}
		key.src, key.dst = ip.SourceAddress(), ip.DestinationAddress()
	default:
		return key, 0, notAck
	}
	key.sport, key.dpt = th.SourcePort(), th.DestinationPort()
	switch {
	case flags != header.TCPFlagAck || pkt.Data().Size() > 0:
		kind = carrier
	case hasSACK(th):
		kind = sackAck
	default:
		kind = bareAck
	}
	return key, th.AckNumber(), kind
}

// hasSACK reports whether a TCP header carries a SACK option.
func hasSACK(th header.TCP) bool {
	off := int(th.DataOffset())
	if off > len(th) {
		off = len(th)
	}
	opts := th[header.TCPMinimumSize:off]
	for len(opts) > 0 {
		switch opts[0] {
		case header.TCPOptionEOL:
			return false
		case header.TCPOptionNOP:
			opts = opts[1:]
			continue
		case header.TCPOptionSACK:
			return true
		}
		if len(opts) < 2 || opts[1] < 2 || int(opts[1]) > len(opts) {
			return false
		}
		opts = opts[opts[1]:]
	}
	return false
}

// Read implements tun.Device: it waits for at least one packet and returns
// as many as are queued, up to len(bufs).
func (t *netTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	for {
		t.mu.Lock()
		if len(t.queue) > 0 {
			n := min(len(t.queue), len(bufs))
			var err error
			total := 0
			for i, pkt := range t.queue[:n] {
				sizes[i] = copyPacket(bufs[i][offset:], pkt)
				total += sizes[i]
				pkt.DecRef()
			}
			if t.traffic != nil {
				t.traffic.Add(uint64(total))
			}
			rest := copy(t.queue, t.queue[n:])
			clear(t.queue[rest:])
			t.queue = t.queue[:rest]
			if t.full > 0 {
				t.space.Broadcast()
			}
			t.mu.Unlock()
			return n, err
		}
		closed := t.closed
		t.mu.Unlock()
		if closed {
			return 0, os.ErrClosed
		}
		select {
		case <-t.ready:
		case <-t.done:
		}
	}
}

// copyPacket copies a packet's bytes into b; a packet larger than b (it
// cannot be: the stack's MTU is the device's) is cut.
func copyPacket(b []byte, pkt *stack.PacketBuffer) int {
	views, off := pkt.AsViewList()
	n := 0
	for v := views.Front(); v != nil; v = v.Next() {
		s := v.AsSlice()
		if off >= len(s) {
			off -= len(s)
			continue
		}
		n += copy(b[n:], s[off:])
		off = 0
	}
	return n
}

// Write implements tun.Device: the packets wireguard-go decrypted enter
// the stack.
func (t *netTUN) Write(bufs [][]byte, offset int) (int, error) {
	if t.traffic != nil {
		total := 0
		for _, b := range bufs {
			total += len(b) - offset
		}
		t.traffic.Add(uint64(total))
	}
	for _, b := range bufs {
		p := b[offset:]
		if len(p) == 0 {
			continue
		}
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(p)})
		switch p[0] >> 4 {
		case 4:
			t.ep.InjectInbound(header.IPv4ProtocolNumber, pkt)
		case 6:
			t.ep.InjectInbound(header.IPv6ProtocolNumber, pkt)
		default:
			pkt.DecRef()
			return 0, syscall.EAFNOSUPPORT
		}
		pkt.DecRef()
	}
	return len(bufs), nil
}

func (t *netTUN) ackStats() AckStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.acks
}

func (t *netTUN) File() *os.File           { return nil }
func (t *netTUN) MTU() (int, error)        { return t.mtu, nil }
func (t *netTUN) Name() (string, error)    { return "licgate", nil }
func (t *netTUN) Events() <-chan tun.Event { return t.events }
func (t *netTUN) BatchSize() int           { return tunBatch }

// Close implements tun.Device. wireguard-go calls it once, from
// device.Close.
func (t *netTUN) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.space.Broadcast()
	t.timer.Stop()
	for _, pkt := range t.queue {
		pkt.DecRef()
	}
	for _, h := range t.held {
		h.pkt.DecRef()
	}
	t.queue, t.held, t.heldQ = nil, nil, nil
	close(t.done)
	t.mu.Unlock()
	t.stack.RemoveNIC(1)
	t.stack.Close()
	t.ep.Close()
	close(t.events)
	return nil
}

func fullAddr(ap netip.AddrPort) (tcpip.FullAddress, tcpip.NetworkProtocolNumber) {
	proto := ipv4.ProtocolNumber
	if ap.Addr().Is6() {
		proto = ipv6.ProtocolNumber
	}
	return tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFromSlice(ap.Addr().AsSlice()), Port: ap.Port()}, proto
}

func (t *netTUN) listenTCP(ap netip.AddrPort) (net.Listener, error) {
	fa, proto := fullAddr(ap)
	return gonet.ListenTCP(t.stack, fa, proto)
}

func (t *netTUN) listenUDP(ap netip.AddrPort) (net.PacketConn, error) {
	fa, proto := fullAddr(ap)
	return gonet.DialUDP(t.stack, &fa, nil, proto)
}

// dial connects through the stack to an IP literal and port; there is no
// name resolution inside the tunnel.
func (t *netTUN) dial(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil, fmt.Errorf("%q is not an IP address (no name resolution inside the tunnel)", host)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("bad port %q", port)
	}
	ap := netip.AddrPortFrom(ip.Unmap(), uint16(p))
	fa, proto := fullAddr(ap)
	switch network {
	case "tcp", "tcp4", "tcp6":
		return gonet.DialContextTCP(ctx, t.stack, fa, proto)
	case "udp", "udp4", "udp6":
		return gonet.DialUDP(t.stack, nil, &fa, proto)
	}
	return nil, errors.New("unsupported network " + strconv.Quote(network))
}

// TUN is the link as package tunnel uses it: a tun.Device for
// wireguard-go, with listeners and dials on the stack.
type TUN struct{ *netTUN }

// New creates a gVisor stack with the addresses and its link (see netTUN).
// If traffic is not nil, the bytes of every packet through the link, both
// ways, are added to it.
func New(addrs []netip.Addr, mtu int, ackDelay time.Duration, traffic *atomic.Uint64) (*TUN, error) {
	t, err := newNetTUN(addrs, mtu, ackDelay)
	if err != nil {
		return nil, err
	}
	t.traffic = traffic
	return &TUN{t}, nil
}

// ListenTCP listens on a stack address.
func (t *TUN) ListenTCP(ap netip.AddrPort) (net.Listener, error) { return t.listenTCP(ap) }

// ListenUDP listens for datagrams on a stack address.
func (t *TUN) ListenUDP(ap netip.AddrPort) (net.PacketConn, error) { return t.listenUDP(ap) }

// Dial connects through the stack to an IP literal and port.
func (t *TUN) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	return t.dial(ctx, network, address)
}

// AckStats reports what became of the bare ACKs held for the ACK delay.
func (t *TUN) AckStats() AckStats { return t.ackStats() }
