package flowgate

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Port is one configured service port, as the gateway's config has it.
type Port struct {
	Service   string
	Port      int
	Protocols []string // "tcp", "udp"
	// Upstream is host:port; a name is resolved once, to IPv4.
	Upstream   string
	HoldsSeats bool
	// SourceTunnel: the license server sees the device's tunnel address
	// (no masquerade; the LAN routes the tunnel subnet back).
	SourceTunnel bool
}

// Plan turns configured ports into the gate's services and the host's
// routing for them (masquerade for the ports without SourceTunnel).
func Plan(ports []Port, subnet netip.Prefix, iface string) ([]Service, Routing, error) {
	r := Routing{Subnet: subnet, Interface: iface}
	var out []Service
	for _, pt := range ports {
		up, err := resolveUpstream(pt.Upstream)
		if err != nil {
			return nil, r, fmt.Errorf("flowgate: service %s: %w", pt.Service, err)
		}
		for _, proto := range pt.Protocols {
			s := Service{Name: pt.Service, Proto: ProtoTCP, Port: uint16(pt.Port), Upstream: up, NoSeat: !pt.HoldsSeats,
				CountUDP: pt.HoldsSeats && len(pt.Protocols) == 1 && pt.Protocols[0] == "udp"}
			if proto == "udp" {
				s.Proto = ProtoUDP
			}
			out = append(out, s)
			if !pt.SourceTunnel {
				r.Masquerade = append(r.Masquerade, Upstream{Proto: proto, Addr: up})
			}
		}
	}
	return out, r, nil
}

// resolveUpstream turns host:port into an IPv4 address and port, once at
// start: the kernel forwards to an address.
func resolveUpstream(hostport string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return ap, nil
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("upstream %q: %w", hostport, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("upstream %q: port: %w", hostport, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil || len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("upstream %q: no IPv4 address (forwarding needs one): %v", hostport, err)
	}
	return netip.AddrPortFrom(addrs[0].Unmap(), uint16(p)), nil
}
