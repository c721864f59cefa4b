package flowgate

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// tcp4 builds an IPv4 TCP segment with valid checksums.
func tcp4(src, dst string, flags uint8, seq, ack uint32, payload []byte) []byte {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	b := make([]byte, 40+len(payload))
	buildRST4(b, s, d, seq, ack, true) // header template
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	b[33] = flags
	copy(b[40:], payload)
	binary.BigEndian.PutUint16(b[10:12], 0)
	binary.BigEndian.PutUint16(b[10:12], ^fold(checksum(b[:20], 0)))
	fixL4(b)
	return b
}

// udp4 builds an IPv4 UDP datagram with valid checksums.
func udp4(src, dst string, payload []byte) []byte {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	b := make([]byte, 28+len(payload))
	b[0], b[8], b[9] = 0x45, 64, ProtoUDP
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	sa, da := s.Addr().As4(), d.Addr().As4()
	copy(b[12:16], sa[:])
	copy(b[16:20], da[:])
	binary.BigEndian.PutUint16(b[10:12], ^fold(checksum(b[:20], 0)))
	binary.BigEndian.PutUint16(b[20:22], s.Port())
	binary.BigEndian.PutUint16(b[22:24], d.Port())
	binary.BigEndian.PutUint16(b[24:26], uint16(8+len(payload)))
	copy(b[28:], payload)
	fixL4(b)
	return b
}

// fixL4 recomputes an IPv4 packet's TCP or UDP checksum in full.
func fixL4(b []byte) {
	ihl := int(b[0]&0xf) * 4
	at := ihl + 16
	if b[9] == ProtoUDP {
		at = ihl + 6
	}
	binary.BigEndian.PutUint16(b[at:], 0)
	binary.BigEndian.PutUint16(b[at:], ^fold(checksum(b[ihl:], checksum(b[12:20], 0)+uint32(b[9])+uint32(len(b)-ihl))))
}

// checksumsOK verifies an IPv4 packet's header and TCP/UDP checksums.
func checksumsOK(b []byte) bool {
	ihl := int(b[0]&0xf) * 4
	if fold(checksum(b[:ihl], 0)) != 0xffff {
		return false
	}
	if b[9] == ProtoUDP && binary.BigEndian.Uint16(b[ihl+6:]) == 0 {
		return true
	}
	return fold(checksum(b[ihl:], checksum(b[12:20], 0)+uint32(b[9])+uint32(len(b)-ihl))) == 0xffff
}

func TestParse(t *testing.T) {
	v6 := make([]byte, 60)
	v6[0] = 0x60
	binary.BigEndian.PutUint16(v6[4:6], 20)
	v6[6] = ProtoTCP
	v6[23], v6[39] = 2, 1
	binary.BigEndian.PutUint16(v6[40:], 1234)
	binary.BigEndian.PutUint16(v6[42:], 22350)
	v6[52] = 5 << 4
	v6[53] = flagSYN
	frag := udp4("10.44.0.2:5000", "10.44.0.1:22350", []byte("x"))
	binary.BigEndian.PutUint16(frag[6:8], 0x0001) // offset 8 bytes
	for _, c := range []struct {
		name string
		b    []byte
		ok   bool
		want Packet
	}{
		{"tcp syn", tcp4("10.44.0.2:40000", "10.44.0.1:22350", flagSYN, 7, 0, nil), true,
			Packet{Proto: ProtoTCP, Src: netip.MustParseAddr("10.44.0.2"), Dst: netip.MustParseAddr("10.44.0.1"), SrcPort: 40000, DstPort: 22350, Flags: flagSYN, Seq: 7}},
		{"tcp data", tcp4("10.44.0.2:40000", "10.44.0.1:22350", flagACK, 8, 9, []byte("hello")), true,
			Packet{Proto: ProtoTCP, Src: netip.MustParseAddr("10.44.0.2"), Dst: netip.MustParseAddr("10.44.0.1"), SrcPort: 40000, DstPort: 22350, Flags: flagACK, Seq: 8, Ack: 9, Payload: 5}},
		{"udp", udp4("10.44.0.2:5000", "10.44.0.1:22350", []byte("DISCOVER")), true,
			Packet{Proto: ProtoUDP, Src: netip.MustParseAddr("10.44.0.2"), Dst: netip.MustParseAddr("10.44.0.1"), SrcPort: 5000, DstPort: 22350}},
		{"v4 later fragment", frag, true,
			Packet{Proto: ProtoUDP, Src: netip.MustParseAddr("10.44.0.2"), Dst: netip.MustParseAddr("10.44.0.1"), Fragment: true}},
		{"v6 tcp", v6, true,
			Packet{V6: true, Proto: ProtoTCP, Src: netip.MustParseAddr("::2"), Dst: netip.MustParseAddr("::1"), SrcPort: 1234, DstPort: 22350, Flags: flagSYN}},
		{"empty", nil, false, Packet{}},
		{"v5", []byte{0x50, 0, 0, 0}, false, Packet{}},
		{"short v4", []byte{0x45, 0, 0, 20}, false, Packet{}},
		{"truncated tcp", tcp4("10.44.0.2:1", "10.44.0.1:2", flagSYN, 0, 0, nil)[:30], false, Packet{}},
	} {
		var p Packet
		ok := Parse(c.b, &p)
		p.ihl, p.l4 = 0, 0
		if ok != c.ok || (ok && p != c.want) {
			t.Errorf("%s: Parse = %v %+v, want %v %+v", c.name, ok, p, c.ok, c.want)
		}
	}
}

func TestRewriteKeepsChecksums(t *testing.T) {
	for _, b := range [][]byte{
		tcp4("10.44.0.2:40000", "10.44.0.1:22350", flagACK, 1, 2, []byte("some payload!")),
		tcp4("10.44.0.2:40000", "10.44.0.1:22350", flagSYN, 0xfffffff0, 0, nil),
		udp4("10.44.0.2:5000", "10.44.0.1:22350", []byte("DISCOVER")),
		udp4("10.44.0.2:5000", "10.44.0.1:22350", []byte("odd")),
	} {
		var p Packet
		if !Parse(b, &p) || !checksumsOK(b) {
			t.Fatalf("test packet invalid")
		}
		rewrite4(b, &p, false, netip.MustParseAddrPort("192.168.77.10:27000"))
		if !checksumsOK(b) {
			t.Errorf("destination rewrite broke a checksum (proto %d)", p.Proto)
		}
		Parse(b, &p)
		if p.Dst != netip.MustParseAddr("192.168.77.10") || p.DstPort != 27000 {
			t.Errorf("rewritten to %s:%d", p.Dst, p.DstPort)
		}
		rewrite4(b, &p, true, netip.MustParseAddrPort("10.44.0.1:22350"))
		if !checksumsOK(b) {
			t.Errorf("source rewrite broke a checksum (proto %d)", p.Proto)
		}
	}
}

func TestBuiltPacketsValid(t *testing.T) {
	b := make([]byte, 40)
	buildRST4(b, netip.MustParseAddrPort("10.44.0.1:22350"), netip.MustParseAddrPort("10.44.0.2:40000"), 5, 6, true)
	var p Packet
	if !Parse(b, &p) || !checksumsOK(b) || !p.RST() || p.Seq != 5 || p.Ack != 6 || p.Flags&flagACK == 0 {
		t.Errorf("RST: %+v", p)
	}
	e := make([]byte, 28)
	buildEcho4(e, netip.MustParseAddr("10.44.0.2"), netip.MustParseAddr("10.44.0.1"), 77)
	if !Parse(e, &p) || fold(checksum(e[:20], 0)) != 0xffff || fold(checksum(e[20:], 0)) != 0xffff {
		t.Error("echo request checksums")
	}
}

// FuzzParse: no input panics Parse, and rewriting what parses as a
// first-fragment TCP/UDP IPv4 packet keeps valid checksums valid.
func FuzzParse(f *testing.F) {
	f.Add(tcp4("10.44.0.2:40000", "10.44.0.1:22350", flagSYN, 1, 0, nil))
	f.Add(udp4("10.44.0.2:5000", "10.44.0.1:22350", []byte("DISCOVER")))
	f.Add([]byte{0x60})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Packet
		if !Parse(b, &p) || p.V6 || p.Fragment || (p.Proto != ProtoTCP && p.Proto != ProtoUDP) {
			return
		}
		total := int(binary.BigEndian.Uint16(b[2:4]))
		valid := total == len(b) && checksumsOK(b)
		rewrite4(b, &p, false, netip.MustParseAddrPort("192.168.77.10:27000"))
		if valid && !checksumsOK(b) {
			t.Fatalf("rewrite broke the checksums of % x", b)
		}
	})
}
