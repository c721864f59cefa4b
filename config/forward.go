package config

import (
	"net"

	"github.com/licgate/licgate/flowgate"
	"github.com/licgate/licgate/licmgr"
)

// ForwardPorts are the services' ports as the forwarding mode
// (tunnel.forward) forwards them: each port of a typed service goes to
// the same port number on the service's upstream host, as the proxy
// dials it (licmgr.UpstreamFor), the main port to the upstream as
// configured.
func (c *Config) ForwardPorts() []flowgate.Port {
	var out []flowgate.Port
	for _, sc := range c.Services {
		pts := sc.Ports
		if len(pts) == 0 { // a config not from Load
			pts = []licmgr.Port{{Name: "license", Port: sc.Port, Protocols: sc.Protocols, Role: licmgr.RoleLicense, HoldsSeats: true}}
		}
		for _, pt := range pts {
			up := sc.Upstream
			if sc.Type != "" && pt.Port != sc.Port {
				host, _, err := net.SplitHostPort(sc.Upstream)
				if err != nil {
					host = sc.Upstream
				}
				up = licmgr.UpstreamFor(host, pt)
			}
			out = append(out, flowgate.Port{Service: sc.Name, Port: pt.Port, Protocols: pt.Protocols,
				Upstream: up, HoldsSeats: pt.HoldsSeats, SourceTunnel: sc.Source == "tunnel"})
		}
	}
	return out
}
