package tunnel

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"golang.zx2c4.com/wireguard/tun"
)

var (
	gw4, gw6       = netip.MustParseAddr("10.44.0.1"), netip.MustParseAddr("fd44::1")
	other4, other6 = netip.MustParseAddr("192.168.1.10"), netip.MustParseAddr("fd44::9")
)

// pkt builds an IP packet from a peer to dst with the given protocol and
// the transport header bytes th. ext are IPv6 extension headers, each
// given as (its next header is filled in) the header's type and bytes.
func pkt(dst netip.Addr, proto byte, th []byte, frag uint16, ext ...[]byte) []byte {
	if dst.Is4() {
		p := make([]byte, 20, 20+len(th))
		p[0] = 0x45
		p[9] = proto
		binary.BigEndian.PutUint16(p[6:8], frag)
		copy(p[12:16], []byte{10, 44, 0, 2})
		a := dst.As4()
		copy(p[16:20], a[:])
		return append(p, th...)
	}
	p := make([]byte, 40)
	p[0] = 0x60
	a := dst.As16()
	copy(p[24:40], a[:])
	nextAt := 6
	for _, e := range ext {
		p[nextAt] = e[0]
		nextAt = len(p)
		p = append(p, e[1:]...)
	}
	p[nextAt] = proto
	return append(p, th...)
}

func ports(dport uint16) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:2], 40000)
	binary.BigEndian.PutUint16(b[2:4], dport)
	return b
}

func icmpMsg(typ byte) []byte { return []byte{typ, 0, 0, 0, 0, 0, 0, 0} }

var (
	hopByHop = append([]byte{0}, make([]byte, 8)...)  // type 0, 8 bytes
	routing  = append([]byte{43}, make([]byte, 8)...) // type 43
	fragHdr  = func(off uint16) []byte {              // type 44
		b := make([]byte, 9)
		b[0] = 44
		binary.BigEndian.PutUint16(b[3:5], off<<3)
		return b
	}
)

func TestFilterDecisions(t *testing.T) {
	f, err := newPacketFilter([]netip.Addr{gw4, gw6}, []Service{{"udp", 22350}})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := Service{"tcp", 22350}.key()
	f.listen(k, 1) // a listener on tcp/22350
	for _, tc := range []struct {
		name string
		want verdict
		p    []byte
	}{
		{"tcp to service", pass, pkt(gw4, protoTCP, ports(22350), 0)},
		{"udp to service", pass, pkt(gw4, protoUDP, ports(22350), 0)},
		{"tcp to other port", dropNotService, pkt(gw4, protoTCP, ports(2222), 0)},
		{"udp to other port", dropNotService, pkt(gw4, protoUDP, ports(53), 0)},
		{"tcp to service on other address", dropNotGateway, pkt(other4, protoTCP, ports(22350), 0)},
		{"tcp to the peer's own subnet", dropNotGateway, pkt(netip.MustParseAddr("10.44.0.3"), protoTCP, ports(22350), 0)},
		{"icmp echo", pass, pkt(gw4, protoICMP, icmpMsg(8), 0)},
		{"icmp frag needed", pass, pkt(gw4, protoICMP, icmpMsg(3), 0)},
		{"icmp echo reply", dropNotService, pkt(gw4, protoICMP, icmpMsg(0), 0)},
		{"icmp redirect", dropNotService, pkt(gw4, protoICMP, icmpMsg(5), 0)},
		{"icmp echo other address", dropNotGateway, pkt(other4, protoICMP, icmpMsg(8), 0)},
		{"gre", dropNotService, pkt(gw4, 47, ports(22350), 0)},
		{"first fragment with ports", pass, pkt(gw4, protoUDP, ports(22350), 0x2000)},
		{"first fragment too short for ports", dropMalformed, pkt(gw4, protoUDP, []byte{1, 2}, 0x2000)},
		{"later fragment", pass, pkt(gw4, protoUDP, []byte{1, 2, 3}, 0x0001)},
		{"later fragment other address", dropNotGateway, pkt(other4, protoUDP, ports(22350), 0x0001)},
		{"short ipv4", dropMalformed, pkt(gw4, protoTCP, nil, 0)[:19]},
		{"ihl too small", dropMalformed, func() []byte { p := pkt(gw4, protoTCP, ports(22350), 0); p[0] = 0x44; return p }()},
		{"ihl past end", dropMalformed, func() []byte { p := pkt(gw4, protoTCP, nil, 0); p[0] = 0x4f; return p }()},
		{"version 5", dropMalformed, func() []byte { p := pkt(gw4, protoTCP, ports(22350), 0); p[0] = 0x55; return p }()},
		{"empty", dropMalformed, nil},
		{"v6 tcp to service", pass, pkt(gw6, protoTCP, ports(22350), 0)},
		{"v6 tcp to other port", dropNotService, pkt(gw6, protoTCP, ports(2222), 0)},
		{"v6 other address", dropNotGateway, pkt(other6, protoTCP, ports(22350), 0)},
		{"v6 hop-by-hop then service", pass, pkt(gw6, protoTCP, ports(22350), 0, hopByHop)},
		{"v6 hop-by-hop then other port", dropNotService, pkt(gw6, protoTCP, ports(2222), 0, hopByHop)},
		{"v6 routing header", dropMalformed, pkt(gw6, protoTCP, ports(22350), 0, routing)},
		{"v6 first fragment", pass, pkt(gw6, protoUDP, ports(22350), 0, fragHdr(0))},
		{"v6 first fragment other port", dropNotService, pkt(gw6, protoUDP, ports(1), 0, fragHdr(0))},
		{"v6 later fragment", pass, pkt(gw6, protoUDP, nil, 0, fragHdr(3))},
		{"v6 echo", pass, pkt(gw6, protoICMPv6, icmpMsg(128), 0)},
		{"v6 packet too big", pass, pkt(gw6, protoICMPv6, icmpMsg(2), 0)},
		{"v6 router solicitation", dropNotService, pkt(gw6, protoICMPv6, icmpMsg(133), 0)},
		{"v6 icmpv4 inside", dropNotService, pkt(gw6, protoICMP, icmpMsg(8), 0)},
		{"v6 short", dropMalformed, pkt(gw6, protoTCP, nil, 0)[:39]},
		{"v6 truncated extension", dropMalformed, pkt(gw6, protoTCP, nil, 0, hopByHop)[:44]},
	} {
		if got := f.verdict(tc.p); got != tc.want {
			t.Errorf("%s: verdict %d, want %d", tc.name, got, tc.want)
		}
	}
	// Closing the listener closes the port; SetAllowed replaces the rest.
	f.listen(k, -1)
	if got := f.verdict(pkt(gw4, protoTCP, ports(22350), 0)); got != dropNotService {
		t.Errorf("closed listener's port: verdict %d", got)
	}
	if err := f.setAllowed([]Service{{"tcp", 2222}}); err != nil {
		t.Fatal(err)
	}
	if f.verdict(pkt(gw4, protoTCP, ports(2222), 0)) != pass || f.verdict(pkt(gw4, protoUDP, ports(22350), 0)) != dropNotService {
		t.Error("SetAllowed did not replace the set")
	}
	if err := f.setAllowed([]Service{{"sctp", 1}}); err == nil {
		t.Error("sctp service accepted")
	}
}

// recordTUN stands in for the OS TUN: it keeps what is written.
type recordTUN struct {
	tun.Device
	got [][]byte
}

func (r *recordTUN) Write(bufs [][]byte, offset int) (int, error) {
	for _, b := range bufs {
		r.got = append(r.got, b[offset:])
	}
	return len(bufs), nil
}

func TestFilteredTUNWrite(t *testing.T) {
	f, _ := newPacketFilter([]netip.Addr{gw4}, []Service{{"tcp", 22350}})
	rec := &recordTUN{}
	ft := &filteredTUN{Device: rec, f: f}
	const off = 16
	withOff := func(p []byte) []byte { return append(make([]byte, off), p...) }
	ok1, bad, ok2, bad2 := pkt(gw4, protoTCP, ports(22350), 0), pkt(gw4, protoTCP, ports(2222), 0), pkt(gw4, protoICMP, icmpMsg(8), 0), pkt(other4, protoTCP, ports(22350), 0)
	n, err := ft.Write([][]byte{withOff(ok1), withOff(bad), withOff(ok2), withOff(bad2)}, off)
	if err != nil || n != 4 {
		t.Fatalf("Write = %d, %v; want 4, nil", n, err)
	}
	if len(rec.got) != 2 || string(rec.got[0]) != string(ok1) || string(rec.got[1]) != string(ok2) {
		t.Fatalf("reached the TUN: %x", rec.got)
	}
	if s := f.stats(); s != (FilterStats{NotGateway: 1, NotService: 1}) {
		t.Fatalf("stats %+v", s)
	}
}

// TestFilterNoAllocs: the per-packet decision allocates nothing.
func TestFilterNoAllocs(t *testing.T) {
	f, _ := newPacketFilter([]netip.Addr{gw4, gw6}, []Service{{"tcp", 22350}})
	pkts := [][]byte{pkt(gw4, protoTCP, ports(22350), 0), pkt(gw4, protoTCP, ports(1), 0), pkt(gw6, protoUDP, ports(1), 0, hopByHop, fragHdr(0))}
	ft := &filteredTUN{Device: discardTUN{}, f: f}
	bufs := make([][]byte, len(pkts))
	if n := testing.AllocsPerRun(100, func() {
		copy(bufs, pkts)
		ft.Write(bufs, 0)
	}); n != 0 {
		t.Fatalf("%v allocations per batch", n)
	}
}

type discardTUN struct{ tun.Device }

func (discardTUN) Write(bufs [][]byte, _ int) (int, error) { return len(bufs), nil }

// TestModeUnsupported holds the contract: tun and kernel modes fail with
// ErrModeUnsupported (naming the OS) everywhere but Linux, and on Linux
// fail for their own reasons instead.
func TestModeUnsupported(t *testing.T) {
	k := mustKey(t)
	_, errTUN := NewTUN(Config{PrivateKey: k}, "lgtunx0", netip.MustParsePrefix("10.44.0.0/24"), nil) // no address: fails before creating anything
	_, errKernel := NewKernel(Config{PrivateKey: k}, "lgtun-nosuch0", nil)
	for mode, err := range map[string]error{"tun": errTUN, "kernel": errKernel} {
		if err == nil {
			t.Fatalf("%s mode started", mode)
		}
		if runtime.GOOS == "linux" {
			if errors.Is(err, ErrModeUnsupported) {
				t.Errorf("%s mode on linux: %v", mode, err)
			}
			continue
		}
		if !errors.Is(err, ErrModeUnsupported) || !strings.Contains(err.Error(), runtime.GOOS) || !strings.Contains(err.Error(), "netstack") {
			t.Errorf("%s mode on %s: %v", mode, runtime.GOOS, err)
		}
	}
	// Netstack mode runs everywhere.
	d, err := NewNetstack(Config{PrivateKey: k, Addresses: []netip.Addr{gw4}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
}

// BenchmarkFilterWrite: the filter's cost for a batch of 64 packets to
// the service (the common case), per packet.
func BenchmarkFilterWrite(b *testing.B) {
	f, _ := newPacketFilter([]netip.Addr{gw4}, []Service{{"tcp", 22350}, {"udp", 22350}, {"tcp", 8443}})
	ft := &filteredTUN{Device: discardTUN{}, f: f}
	p := pkt(gw4, protoTCP, ports(22350), 0)
	pkts := make([][]byte, 64)
	for i := range pkts {
		pkts[i] = p
	}
	bufs := make([][]byte, len(pkts))
	b.ReportAllocs()
	for b.Loop() {
		copy(bufs, pkts)
		ft.Write(bufs, 0)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pkts)), "ns/packet")
}
