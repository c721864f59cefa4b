package portmap

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"
)

// DialFunc opens a connection, as net.Dialer.DialContext. The mapper dials
// "udp4" to the router's port 5351 (PCP, NAT-PMP) and "tcp" to its UPnP
// HTTP server.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// ListenPacketFunc opens an unconnected socket, as net.ListenConfig's
// ListenPacket; the mapper uses it for UPnP discovery, whose answers to a
// multicast query come from the router's unicast address.
type ListenPacketFunc func(ctx context.Context, network, address string) (net.PacketConn, error)

// Protocol names, in the default order of preference.
const (
	PCP    = "pcp"
	NATPMP = "natpmp"
	UPnP   = "upnp"
)

// Config says which port to map on which router, and how.
type Config struct {
	// Protocols are tried in this order until the router grants a
	// mapping. If empty, all: "pcp", "natpmp", "upnp".
	Protocols []string
	// Gateway is the router's LAN address. If invalid (zero), the gateway
	// of the IPv4 default route (Linux only; other systems must set it).
	Gateway netip.Addr
	// Network is "udp" (WireGuard's port; the default) or "tcp" (the
	// public enrolment listener).
	Network string
	// InternalPort is the local port to expose (WireGuard's listen port,
	// or the public listener's). Required.
	InternalPort int
	// ExternalPort is the port asked for first on the router (the
	// preferred one). If zero, the same as InternalPort. When it differs
	// from InternalPort and the router refuses it (its rules allow only
	// ports 1024-65535, say) or grants another one, the mapper asks for
	// external = InternalPort instead. The router may still grant another
	// port (PCP, or UPnP IGDv2 when the port is taken): Status tells which.
	ExternalPort int
	// Lease is the lifetime asked for; the mapping is renewed at half of
	// what the router grants (never taken as longer than asked). If zero,
	// 1h; at most 24h. If licgate dies without
	// Close, the router drops the mapping after at most this long.
	Lease time.Duration
	// Description is shown in the router's UPnP mapping list. If empty,
	// "licgate WireGuard".
	Description string
	// CheckInterval is how often the mapping is verified (UPnP:
	// GetSpecificPortMappingEntry; PCP and NAT-PMP, which have no query:
	// a renewal, whose epoch also tells whether the router restarted), and
	// how long to wait before trying again after a failure. If zero, 1m.
	CheckInterval time.Duration
	// RetryMax is the longest wait between attempts after the router
	// refused the mapping: waits start at CheckInterval and double up to
	// it, so a router whose rules forbid the port sees a handful of
	// requests an hour, not one a minute. If zero, 1h. After no answer at
	// all, waits double up to 10 CheckIntervals (or RetryMax if shorter).
	RetryMax time.Duration
	// Timeout bounds one protocol attempt (with its retransmissions) or
	// one UPnP request. If zero, 3s.
	Timeout time.Duration

	// Dial and ListenPacket open every socket; tests run the mapper in a
	// network namespace through them. If nil, the net package's.
	Dial         DialFunc
	ListenPacket ListenPacketFunc
}

func (c *Config) protocols() []string {
	if len(c.Protocols) == 0 {
		if !UPnPBuilt {
			return []string{PCP, NATPMP}
		}
		return []string{PCP, NATPMP, UPnP}
	}
	return c.Protocols
}

func (c *Config) externalPort() int {
	if c.ExternalPort == 0 {
		return c.InternalPort
	}
	return c.ExternalPort
}

func (c *Config) lease() time.Duration {
	if c.Lease == 0 {
		return time.Hour
	}
	return min(c.Lease, maxLease)
}

func (c *Config) network() string {
	if c.Network == "" {
		return "udp"
	}
	return c.Network
}

func (c *Config) description() string {
	if c.Description == "" {
		return "licgate WireGuard"
	}
	return c.Description
}

func (c *Config) checkInterval() time.Duration {
	if c.CheckInterval == 0 {
		return time.Minute
	}
	return c.CheckInterval
}

func (c *Config) retryMax() time.Duration {
	if c.RetryMax <= 0 {
		return time.Hour
	}
	return c.RetryMax
}

// backoff is the wait after the n-th failed attempt in a row (n >= 1):
// CheckInterval, doubling, at most RetryMax after a refusal and at most
// 10 CheckIntervals (or RetryMax, if shorter) after silence.
func (c *Config) backoff(n int, refused bool) time.Duration {
	limit := c.retryMax()
	if !refused {
		limit = min(limit, 10*c.checkInterval())
	}
	d := c.checkInterval()
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// maxLease caps a lifetime a router grants: never more than asked for
// (a hostile or broken router's 0xffffffff would be a 136-year lease)
// nor more than a day.
const maxLease = 24 * time.Hour

func (c *Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return 3 * time.Second
	}
	return c.Timeout
}

func (c *Config) dial() DialFunc {
	if c.Dial == nil {
		return (&net.Dialer{}).DialContext
	}
	return c.Dial
}

func (c *Config) listenPacket() ListenPacketFunc {
	if c.ListenPacket == nil {
		return (&net.ListenConfig{}).ListenPacket
	}
	return c.ListenPacket
}

// Validate checks the configuration without touching the network.
func (c *Config) Validate() error {
	for _, p := range c.Protocols {
		if !slices.Contains([]string{PCP, NATPMP, UPnP}, p) {
			return fmt.Errorf("portmap: %w: protocols: unknown %q (want pcp, natpmp or upnp)", ErrBadConfig, p)
		}
		if p == UPnP && !UPnPBuilt {
			return fmt.Errorf("portmap: %w: protocols: %w", ErrBadConfig, ErrUPnPOmitted)
		}
	}
	if c.Network != "" && c.Network != "udp" && c.Network != "tcp" {
		return fmt.Errorf("portmap: %w: network %q (want udp or tcp)", ErrBadConfig, c.Network)
	}
	if c.InternalPort <= 0 || c.InternalPort > 65535 {
		return fmt.Errorf("portmap: %w: internal port %d", ErrBadConfig, c.InternalPort)
	}
	if c.ExternalPort < 0 || c.ExternalPort > 65535 {
		return fmt.Errorf("portmap: %w: external_port %d", ErrBadConfig, c.ExternalPort)
	}
	if c.Gateway.IsValid() && !c.Gateway.Unmap().Is4() {
		return fmt.Errorf("portmap: %w: gateway %s: only IPv4 routers are supported", ErrBadConfig, c.Gateway)
	}
	if c.Lease < 0 || (c.Lease > 0 && c.Lease < 4*time.Second) || c.Lease > 0xffffffff*time.Second {
		return fmt.Errorf("portmap: %w: lease %s (at least 4s)", ErrBadConfig, c.Lease)
	}
	if c.CheckInterval < 0 || c.Timeout < 0 || c.RetryMax < 0 {
		return fmt.Errorf("portmap: %w: negative check_interval, retry_max or timeout", ErrBadConfig)
	}
	return nil
}
