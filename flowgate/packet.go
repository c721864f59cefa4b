package flowgate

import (
	"encoding/binary"
	"net/netip"
)

// IP protocol numbers.
const (
	ProtoICMP = 1
	ProtoTCP  = 6
	ProtoUDP  = 17
)

// TCP flags.
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagACK = 0x10
)

// Packet is what the gate reads of one IP packet: addresses, protocol,
// ports and, for TCP, sequence numbers and flags. It points into the
// packet it was parsed from; parsing allocates nothing.
type Packet struct {
	V6       bool
	Proto    uint8
	Src, Dst netip.Addr
	// SrcPort and DstPort are zero for protocols without ports.
	SrcPort, DstPort uint16
	// Fragment: an IPv4 fragment (offset or more-fragments set), whose
	// ports (if any) cannot stand for the whole datagram.
	Fragment bool
	// TCP only: flags, sequence and acknowledgment numbers, payload length.
	Flags    uint8
	Seq, Ack uint32
	Payload  int
	// ihl is the IPv4 header length; l4 where the transport header starts.
	ihl, l4 int
}

// SYN reports a TCP segment that opens a connection (SYN without ACK).
func (p *Packet) SYN() bool { return p.Flags&(flagSYN|flagACK) == flagSYN }

// RST and FIN report those TCP flags.
func (p *Packet) RST() bool { return p.Flags&flagRST != 0 }
func (p *Packet) FIN() bool { return p.Flags&flagFIN != 0 }

// seqSpace is how much sequence space the segment uses: its payload plus
// one each for SYN and FIN.
func (p *Packet) seqSpace() uint32 {
	n := uint32(p.Payload)
	if p.Flags&flagSYN != 0 {
		n++
	}
	if p.Flags&flagFIN != 0 {
		n++
	}
	return n
}

// Parse reads b's IP and transport headers into p. It reports false for
// what is not a well-formed IPv4 or IPv6 packet, or a TCP/UDP packet too
// short for its header. IPv6 extension headers are not followed: such a
// packet parses with its next-header value as Proto and no ports.
func Parse(b []byte, p *Packet) bool {
	*p = Packet{}
	if len(b) < 1 {
		return false
	}
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return false
		}
		ihl := int(b[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(b[2:4]))
		if ihl < 20 || total < ihl || len(b) < total {
			return false
		}
		p.Proto = b[9]
		p.Src = netip.AddrFrom4([4]byte(b[12:16]))
		p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		p.ihl, p.l4 = ihl, ihl
		frag := binary.BigEndian.Uint16(b[6:8])
		p.Fragment = frag&0x3fff != 0
		if frag&0x1fff != 0 {
			return true // a later fragment: no transport header
		}
		return p.transport(b[ihl:total])
	case 6:
		if len(b) < 40 {
			return false
		}
		total := 40 + int(binary.BigEndian.Uint16(b[4:6]))
		if len(b) < total {
			return false
		}
		p.V6 = true
		p.Proto = b[6]
		p.Src = netip.AddrFrom16([16]byte(b[8:24]))
		p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		p.l4 = 40
		return p.transport(b[40:total])
	}
	return false
}

func (p *Packet) transport(t []byte) bool {
	switch p.Proto {
	case ProtoTCP:
		if len(t) < 20 {
			return false
		}
		off := int(t[12]>>4) * 4
		if off < 20 || len(t) < off {
			return false
		}
		p.SrcPort = binary.BigEndian.Uint16(t[0:2])
		p.DstPort = binary.BigEndian.Uint16(t[2:4])
		p.Seq = binary.BigEndian.Uint32(t[4:8])
		p.Ack = binary.BigEndian.Uint32(t[8:12])
		p.Flags = t[13]
		p.Payload = len(t) - off
	case ProtoUDP:
		if len(t) < 8 {
			return false
		}
		p.SrcPort = binary.BigEndian.Uint16(t[0:2])
		p.DstPort = binary.BigEndian.Uint16(t[2:4])
	}
	return true
}

// checksum folds the one's-complement sum of b into sum.
func checksum(b []byte, sum uint32) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

func fold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// adjust updates the checksum at b[at:at+2] for a 16-bit word that
// changed from old to new (RFC 1624, eqn. 3).
func adjust(b []byte, at int, old, new uint16) {
	hc := binary.BigEndian.Uint16(b[at : at+2])
	sum := uint32(^hc) + uint32(^old) + uint32(new)
	binary.BigEndian.PutUint16(b[at:at+2], ^fold(sum))
}

// rewrite4 replaces an IPv4 packet's source (src true) or destination
// address and port, updating the IP and TCP/UDP checksums incrementally.
// p is b parsed; it must be a first (or no) fragment of TCP or UDP.
func rewrite4(b []byte, p *Packet, src bool, to netip.AddrPort) {
	addrAt, portAt := 16, p.l4+2
	if src {
		addrAt, portAt = 12, p.l4
	}
	csumAt := -1
	switch p.Proto {
	case ProtoTCP:
		csumAt = p.l4 + 16
	case ProtoUDP:
		if binary.BigEndian.Uint16(b[p.l4+6:p.l4+8]) != 0 { // 0: no checksum
			csumAt = p.l4 + 6
		}
	}
	a := to.Addr().As4()
	for i := 0; i < 4; i += 2 {
		old := binary.BigEndian.Uint16(b[addrAt+i:])
		nw := uint16(a[i])<<8 | uint16(a[i+1])
		adjust(b, 10, old, nw)
		if csumAt >= 0 {
			adjust(b, csumAt, old, nw)
		}
		binary.BigEndian.PutUint16(b[addrAt+i:], nw)
	}
	old := binary.BigEndian.Uint16(b[portAt:])
	if csumAt >= 0 {
		adjust(b, csumAt, old, to.Port())
	}
	binary.BigEndian.PutUint16(b[portAt:], to.Port())
	if p.Proto == ProtoUDP && csumAt >= 0 && binary.BigEndian.Uint16(b[csumAt:]) == 0 {
		binary.BigEndian.PutUint16(b[csumAt:], 0xffff) // 0 means "none" in UDP
	}
}

// buildRST4 writes into b (at least 40 bytes) an IPv4 TCP segment with
// RST (and ACK if ack is set) from src to dst, and returns its length.
func buildRST4(b []byte, src, dst netip.AddrPort, seq, ack uint32, withAck bool) int {
	const n = 40
	clear(b[:n])
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:4], n)
	b[6] = 0x40 // don't fragment
	b[8] = 64
	b[9] = ProtoTCP
	s, d := src.Addr().As4(), dst.Addr().As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	binary.BigEndian.PutUint16(b[10:12], ^fold(checksum(b[:20], 0)))
	t := b[20:n]
	binary.BigEndian.PutUint16(t[0:2], src.Port())
	binary.BigEndian.PutUint16(t[2:4], dst.Port())
	binary.BigEndian.PutUint32(t[4:8], seq)
	t[12] = 5 << 4
	t[13] = flagRST
	if withAck {
		binary.BigEndian.PutUint32(t[8:12], ack)
		t[13] |= flagACK
	}
	sum := checksum(b[12:20], 0) + ProtoTCP + uint32(len(t))
	binary.BigEndian.PutUint16(t[16:18], ^fold(checksum(t, sum)))
	return n
}

// buildEcho4 writes an ICMP echo request from src to dst with the
// identifier id (the gate's wake-up ping, see Gate.wake) and returns its
// length.
func buildEcho4(b []byte, src, dst netip.Addr, id uint16) int {
	const n = 28
	clear(b[:n])
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:4], n)
	b[8] = 64
	b[9] = ProtoICMP
	s, d := src.As4(), dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	binary.BigEndian.PutUint16(b[10:12], ^fold(checksum(b[:20], 0)))
	b[20] = 8 // echo request
	binary.BigEndian.PutUint16(b[24:26], id)
	binary.BigEndian.PutUint16(b[22:24], ^fold(checksum(b[20:n], 0)))
	return n
}

// isEchoReply4 reports an ICMP echo reply with identifier id.
func isEchoReply4(b []byte, p *Packet, id uint16) bool {
	return !p.V6 && p.Proto == ProtoICMP && !p.Fragment && len(b) >= p.l4+8 &&
		b[p.l4] == 0 && binary.BigEndian.Uint16(b[p.l4+4:]) == id
}
