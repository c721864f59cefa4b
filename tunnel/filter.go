package tunnel

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.zx2c4.com/wireguard/tun"
)

// Service is a port on the gateway's tunnel address that peers may reach
// in tun mode.
type Service struct {
	Network string // "tcp" or "udp"
	Port    uint16
}

func (s Service) String() string { return fmt.Sprintf("%s/%d", s.Network, s.Port) }

// key packs a service as the filter looks it up: IP protocol and port.
func (s Service) key() (uint32, error) {
	switch s.Network {
	case "tcp":
		return protoTCP<<16 | uint32(s.Port), nil
	case "udp":
		return protoUDP<<16 | uint32(s.Port), nil
	}
	return 0, fmt.Errorf("tunnel: service %s: network must be tcp or udp", s)
}

// FilterStats counts the packets from peers that tun mode dropped.
type FilterStats struct {
	NotGateway uint64 // destination is not a gateway tunnel address
	NotService uint64 // to a gateway address, but no allowed protocol and port
	Malformed  uint64 // not a well-formed IP packet, or an IPv6 routing header
}

// IP protocol numbers the filter knows.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// packetFilter decides, for every packet a peer sends, whether it may
// enter the host stack: only to the gateway's tunnel addresses, and there
// only to the allowed services (plus ICMP echo and the ICMP errors path
// MTU discovery needs). Everything else, including the rest of this host
// and whatever it forwards to, is dropped: fail closed.
//
// The decision is one atomic load and one map lookup: nothing is
// allocated per packet. The set is rebuilt and swapped whole when a
// listener opens or closes or SetAllowed is called.
type packetFilter struct {
	addrs []netip.Addr // the gateway's tunnel addresses; fixed

	set atomic.Pointer[map[uint32]struct{}]

	mu        sync.Mutex
	explicit  []uint32       // from Config.Services / SetAllowed
	listening map[uint32]int // open listeners on the device, counted

	notGateway, notService, malformed atomic.Uint64
}

func newPacketFilter(addrs []netip.Addr, services []Service) (*packetFilter, error) {
	f := &packetFilter{addrs: addrs, listening: map[uint32]int{}}
	if err := f.setAllowed(services); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *packetFilter) setAllowed(services []Service) error {
	keys := make([]uint32, 0, len(services))
	for _, s := range services {
		k, err := s.key()
		if err != nil {
			return err
		}
		keys = append(keys, k)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.explicit = keys
	f.publish()
	return nil
}

// listen counts a listener on service key k open (d = 1) or closed (-1).
func (f *packetFilter) listen(k uint32, d int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listening[k] += d; f.listening[k] <= 0 {
		delete(f.listening, k)
	}
	f.publish()
}

// publish swaps in a new set; called with mu held.
func (f *packetFilter) publish() {
	m := make(map[uint32]struct{}, len(f.explicit)+len(f.listening))
	for _, k := range f.explicit {
		m[k] = struct{}{}
	}
	for k := range f.listening {
		m[k] = struct{}{}
	}
	f.set.Store(&m)
}

// isGateway reports whether a is one of the gateway's addresses.
func (f *packetFilter) isGateway(a netip.Addr) bool {
	for _, g := range f.addrs {
		if g == a {
			return true
		}
	}
	return false
}

// allow decides one packet (IP header first) and counts a drop.
func (f *packetFilter) allow(p []byte) bool {
	switch v := f.verdict(p); v {
	case pass:
		return true
	case dropNotGateway:
		f.notGateway.Add(1)
	case dropNotService:
		f.notService.Add(1)
	default:
		f.malformed.Add(1)
	}
	return false
}

type verdict int

const (
	pass verdict = iota
	dropNotGateway
	dropNotService
	dropMalformed
)

func (f *packetFilter) verdict(p []byte) verdict {
	if len(p) == 0 {
		return dropMalformed
	}
	switch p[0] >> 4 {
	case 4:
		return f.verdict4(p)
	case 6:
		return f.verdict6(p)
	}
	return dropMalformed
}

func (f *packetFilter) verdict4(p []byte) verdict {
	if len(p) < 20 {
		return dropMalformed
	}
	ihl := int(p[0]&0x0f) * 4
	if ihl < 20 || len(p) < ihl {
		return dropMalformed
	}
	if !f.isGateway(netip.AddrFrom4([4]byte(p[16:20]))) {
		return dropNotGateway
	}
	if binary.BigEndian.Uint16(p[6:8])&0x1fff != 0 {
		// A later fragment: its first fragment carried the ports and was
		// checked; a later one cannot overlap them (offsets count 8
		// bytes), and without the first the kernel reassembles nothing.
		return pass
	}
	return f.transport(p[9], p[ihl:], false)
}

func (f *packetFilter) verdict6(p []byte) verdict {
	if len(p) < 40 {
		return dropMalformed
	}
	if !f.isGateway(netip.AddrFrom16([16]byte(p[24:40]))) {
		return dropNotGateway
	}
	next, rest := p[6], p[40:]
	for range 8 { // extension headers, as far as a sane packet has them
		switch next {
		case 0, 60: // hop-by-hop, destination options
			if len(rest) < 8 || len(rest) < (int(rest[1])+1)*8 {
				return dropMalformed
			}
			next, rest = rest[0], rest[(int(rest[1])+1)*8:]
		case 44: // fragment
			if len(rest) < 8 {
				return dropMalformed
			}
			if binary.BigEndian.Uint16(rest[2:4])>>3 != 0 {
				return pass // a later fragment, as for IPv4
			}
			next, rest = rest[0], rest[8:]
		case 43: // routing: the final destination would be another
			return dropMalformed
		default:
			return f.transport(next, rest, true)
		}
	}
	return dropMalformed
}

// transport decides by protocol and destination port.
func (f *packetFilter) transport(proto byte, t []byte, v6 bool) verdict {
	switch proto {
	case protoTCP, protoUDP:
		if len(t) < 4 {
			return dropMalformed // a first fragment too short to hold the ports
		}
		k := uint32(proto)<<16 | uint32(binary.BigEndian.Uint16(t[2:4]))
		if _, ok := (*f.set.Load())[k]; ok {
			return pass
		}
		return dropNotService
	case protoICMP:
		if !v6 && len(t) > 0 {
			switch t[0] {
			case 8, 3, 11: // echo request; destination unreachable, time exceeded
				return pass
			}
		}
		return dropNotService
	case protoICMPv6:
		if v6 && len(t) > 0 {
			switch t[0] {
			case 128, 1, 2, 3: // echo request; unreachable, packet too big, time exceeded
				return pass
			}
		}
		return dropNotService
	}
	return dropNotService
}

func (f *packetFilter) stats() FilterStats {
	return FilterStats{NotGateway: f.notGateway.Load(), NotService: f.notService.Load(), Malformed: f.malformed.Load()}
}

// filteredTUN is the OS TUN device with the filter on the way in: what
// wireguard-go decrypted from a peer passes the filter before the kernel
// sees it. What the host sends to peers (Read) is not filtered.
type filteredTUN struct {
	tun.Device
	f *packetFilter
}

// Write implements tun.Device: it drops the packets the filter refuses
// and writes the rest. A dropped packet counts as written: wireguard-go
// has nothing to do about it.
func (t *filteredTUN) Write(bufs [][]byte, offset int) (int, error) {
	n := len(bufs)
	kept := bufs[:0] // in place: the caller rebuilds bufs for every batch
	for _, b := range bufs {
		if t.f.allow(b[offset:]) {
			kept = append(kept, b)
		}
	}
	if len(kept) == 0 {
		return n, nil
	}
	if _, err := t.Device.Write(kept, offset); err != nil {
		return 0, err
	}
	return n, nil
}
