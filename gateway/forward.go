package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/flowgate"
	"github.com/licgate/licgate/licmgr"
	"github.com/licgate/licgate/session"
)

// forwardWrap is, with tunnel.forward, the packet gate wireguard-go's
// TUN device is wrapped with (package flowgate); nil otherwise.
func (g *Gateway) forwardWrap(cfg *config.Config) (func(raw, filtered tun.Device) tun.Device, error) {
	if !cfg.Tunnel.Forward {
		return nil, nil
	}
	svcs, _, err := forwardServices(cfg)
	if err != nil {
		return nil, err
	}
	gate, err := flowgate.New(flowgate.Config{
		Gateway:  cfg.GatewayAddr(),
		Services: svcs,
		// The identity manager and the admission controller are made
		// after the tunnel; no peer sends before SyncPeers adds it.
		Identify: func(a netip.Addr) (*session.Identity, bool) { return g.Identify(a) },
		Authorize: func(id *session.Identity, service string, counts acl.Counts) (session.Admission, error) {
			return g.Authorize(id, service, counts)
		},
		Sessions: g.sessions,
		OnDeny:   g.denied,
		Logger:   g.log.With(slog.String("component", "flowgate")),
	})
	if err != nil {
		return nil, fmt.Errorf("tunnel.forward: %w", err)
	}
	return gate.Wrap, nil
}

// forwardServices are cfg's service ports as forwarded flows, and the
// routing the host needs for them.
func forwardServices(cfg *config.Config) ([]flowgate.Service, flowgate.Routing, error) {
	r := flowgate.Routing{Subnet: cfg.SubnetPrefix(), Interface: cfg.Tunnel.Interface}
	var out []flowgate.Service
	for _, sc := range cfg.Services {
		ports := sc.Ports
		if len(ports) == 0 {
			ports = []licmgr.Port{{Name: "license", Port: sc.Port, Protocols: sc.Protocols, Role: licmgr.RoleLicense, HoldsSeats: true}}
		}
		for _, pt := range ports {
			up, err := resolveUpstream(upstreamFor(sc, pt))
			if err != nil {
				return nil, r, fmt.Errorf("tunnel.forward: service %s: %w", sc.Name, err)
			}
			for _, proto := range pt.Protocols {
				s := flowgate.Service{Name: sc.Name, Port: uint16(pt.Port), Upstream: up, NoSeat: !pt.HoldsSeats,
					CountUDP: pt.HoldsSeats && len(pt.Protocols) == 1 && pt.Protocols[0] == "udp"}
				s.Proto = flowgate.ProtoTCP
				if proto == "udp" {
					s.Proto = flowgate.ProtoUDP
				}
				out = append(out, s)
				if sc.Source != "tunnel" {
					r.Masquerade = append(r.Masquerade, flowgate.Upstream{Proto: proto, Addr: up})
				}
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

// startForwarding sets up the host for forwarded flows: ip_forward, and
// masquerading for services with source: gateway.
func (g *Gateway) startForwarding(cfg *config.Config) error {
	_, r, err := forwardServices(cfg)
	if err != nil {
		return err
	}
	teardown, err := r.Setup()
	if err != nil {
		return fmt.Errorf("tunnel.forward: %w (or set it up by hand:\n%s)", err, r.Commands())
	}
	g.onClose(func() {
		if err := teardown(); err != nil {
			g.log.Error("removing the forwarding setup", slog.String("err", err.Error()))
		}
	})
	g.log.Info("forwarding: licgate decides each flow's first packet; the kernel forwards the flow",
		slog.String("interface", r.Interface), slog.Int("masqueraded", len(r.Masquerade)))
	return nil
}
