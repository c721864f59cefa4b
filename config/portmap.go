package config

import (
	"net/netip"
	"strconv"

	"github.com/licgate/licgate/portmap"

	"github.com/licgate/licgate/internal/confval"
)

// PortmapConfig opens WireGuard's UDP port on the office router by PCP,
// NAT-PMP or UPnP IGD (whichever it answers), keeps the mapping renewed,
// re-creates it after a router restart and removes it on stop. Off unless
// enabled. The router's external address becomes one more ddns source.
type PortmapConfig struct {
	// Enabled turns it on. If false (the default), nothing is mapped.
	Enabled bool `yaml:"enabled"`
	// Protocols are tried in order. If empty, pcp, natpmp, upnp.
	Protocols []string `yaml:"protocols"`
	// Gateway is the router's LAN address. If empty, the default route's
	// gateway (Linux); other systems must set it.
	Gateway string `yaml:"gateway"`
	// ExternalPort asked for on the router. If zero, tunnel.listen_port.
	ExternalPort int `yaml:"external_port"`
	// Lease asked for; renewed at half. If empty, 1h.
	Lease confval.Duration `yaml:"lease"`
	// CheckInterval between checks that the mapping is still there. If
	// empty, 1m.
	CheckInterval confval.Duration `yaml:"check_interval"`
}

func (c *Config) validatePortmap() error {
	p := &c.Portmap
	if !p.Enabled {
		return nil
	}
	for i, proto := range p.Protocols {
		switch proto {
		case portmap.PCP, portmap.NATPMP, portmap.UPnP:
		default:
			return c.at("portmap.protocols."+strconv.Itoa(i), "%q is not pcp, natpmp or upnp", proto)
		}
		if proto == portmap.UPnP && !portmap.UPnPBuilt {
			return c.at("portmap.protocols."+strconv.Itoa(i), "upnp is not in this build (licgate_omit_upnp): use pcp or natpmp, or the full build")
		}
	}
	if p.Gateway != "" {
		if a, err := netip.ParseAddr(p.Gateway); err != nil || !a.Is4() {
			return c.at("portmap.gateway", "%q is not the router's IPv4 address", p.Gateway)
		}
	}
	if p.ExternalPort < 0 || p.ExternalPort > 65535 {
		return c.at("portmap.external_port", "%d is not a port", p.ExternalPort)
	}
	if c.ListenPort() == 0 {
		return c.at("portmap.enabled", "tunnel.listen_port 0 (a random port) cannot be mapped: set a fixed port")
	}
	if err := confval.Positive(&p.Lease, 0); err != nil {
		return c.at("portmap.lease", "%v", err)
	}
	if err := confval.Positive(&p.CheckInterval, 0); err != nil {
		return c.at("portmap.check_interval", "%v", err)
	}
	return nil
}

// PortmapMapper returns the mapper the config asks for (nil if off).
func (c *Config) PortmapMapper() portmap.Config {
	p := c.Portmap
	mc := portmap.Config{Protocols: p.Protocols, InternalPort: c.ListenPort(), ExternalPort: p.ExternalPort,
		Lease: p.Lease.Duration, CheckInterval: p.CheckInterval.Duration}
	if p.Gateway != "" {
		mc.Gateway = netip.MustParseAddr(p.Gateway)
	}
	return mc
}
