package transparent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Errors; each is returned wrapped with detail, test with errors.Is.
var (
	// ErrUnsupported: the OS cannot bind foreign source addresses (all but
	// Linux). For configuration, "source: tunnel" is an error there.
	ErrUnsupported = errors.New("transparent: source: tunnel needs Linux (IP_TRANSPARENT)")
	// ErrNeedNetAdmin: the process lacks CAP_NET_ADMIN (IP_TRANSPARENT
	// also accepts CAP_NET_RAW; the routing needs CAP_NET_ADMIN).
	ErrNeedNetAdmin = errors.New("transparent: needs CAP_NET_ADMIN (run as root or grant the capability, e.g. AmbientCapabilities=CAP_NET_ADMIN)")
	// ErrNoReturnRoute: a connection from a tunnel address got no answer,
	// the LAN does not route the tunnel subnet back to this host. The
	// error is a *ReturnPathError that names the route.
	ErrNoReturnRoute = errors.New("transparent: replies to the tunnel subnet do not come back to this host")
	// ErrNoLocalRoute: this host would not deliver replies for the tunnel
	// subnet to its own sockets: Setup has not run (or was undone).
	ErrNoLocalRoute = errors.New("transparent: policy routing for the tunnel subnet is not installed on this host")
	// ErrLocalUpstream: the upstream is this host itself, where a foreign
	// source address cannot work; use source: gateway.
	ErrLocalUpstream = errors.New("transparent: the upstream is on this host")
	// ErrBadConfig: a Routing or Dialer field is invalid.
	ErrBadConfig = errors.New("transparent: bad configuration")
)

// Defaults for Routing. The numbers are meant to be recognised in `ip rule`
// output ("10.44") and are how a restart finds what a crashed run left.
const (
	DefaultTable    = 1044
	DefaultPriority = 10440
)

// Dialer opens upstream connections whose source address is a home
// device's tunnel address. The zero value is ready to use with DialFrom.
type Dialer struct {
	// Source is the source address DialContext uses. DialFrom ignores it.
	Source netip.Addr
	// Timeout bounds the connect (in addition to the context). If zero,
	// only the context bounds it.
	Timeout time.Duration
	// Subnet is the tunnel subnet. If set, a TCP connect that gets no
	// answer in time also wraps a *ReturnPathError naming the route the
	// LAN lacks (a timeout from a tunnel address nearly always means that
	// one), so the log line an admin reads says what to add. If zero, the
	// error is the connect error alone.
	Subnet netip.Prefix
}

// DialContext connects to address (host:port, "tcp" or "udp", optionally
// with a 4 or 6 suffix) from d.Source and an ephemeral port. It has the
// signature proxy.Proxy.Dial wants.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return d.DialFrom(ctx, d.Source, network, address)
}

// DialFrom connects to address from src and an ephemeral port. Errors
// wrap ErrNeedNetAdmin (no privileges), ErrUnsupported (not Linux) or the
// connect error (a timeout usually means the LAN lacks the return route:
// see CheckReturnPath).
func (d *Dialer) DialFrom(ctx context.Context, src netip.Addr, network, address string) (net.Conn, error) {
	if !src.IsValid() {
		return nil, fmt.Errorf("%w: no source address to dial %s from", ErrBadConfig, address)
	}
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
	default:
		return nil, fmt.Errorf("%w: network %q (want tcp or udp)", ErrBadConfig, network)
	}
	c, err := dialFrom(ctx, d.Timeout, src.Unmap(), network, address)
	if err != nil {
		if rpe := d.noAnswer(err, src.Unmap(), network, address); rpe != nil {
			return nil, fmt.Errorf("transparent: dial %s %s from %s: %w: %w", network, address, src, err, rpe)
		}
		return nil, fmt.Errorf("transparent: dial %s %s from %s: %w", network, address, src, err)
	}
	return c, nil
}

// noAnswer is the *ReturnPathError for a TCP connect from src that timed
// out, when d.Subnet holds src; nil for any other error. The next hop it
// names is this host's own address on its route to the upstream (unknown
// when the upstream is a name).
func (d *Dialer) noAnswer(err error, src netip.Addr, network, address string) *ReturnPathError {
	var ne net.Error
	timedOut := errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
	if !d.Subnet.IsValid() || !timedOut || !strings.HasPrefix(network, "tcp") || !d.Subnet.Contains(src) {
		return nil
	}
	rpe := &ReturnPathError{Subnet: d.Subnet.Masked(), Upstream: address, Source: src}
	if ap, err := netip.ParseAddrPort(address); err == nil {
		rpe.Gateway = localAddrToward(ap.Addr())
	}
	return rpe
}

// DialFrom returns a dial function (proxy.Proxy.Dial's signature) that
// connects from src.
func DialFrom(src netip.Addr) func(ctx context.Context, network, address string) (net.Conn, error) {
	d := &Dialer{Source: src}
	return d.DialContext
}

// Routing describes the policy routing that delivers replies for the
// tunnel subnet to this host's transparent sockets.
//
// Setup installs, for Subnet 10.44.0.0/24 and the defaults:
//
//	ip -4 rule add pref 10440 to 10.44.0.0/24 iif lo lookup main
//	ip -4 rule add pref 10441 to 10.44.0.0/24 iif wg0 lookup main   (only with TunnelInterface)
//	ip -4 rule add pref 10442 to 10.44.0.0/24 lookup 1044
//	ip -4 route add local 10.44.0.0/24 dev lo table 1044
//
// The first two keep the normal route for packets this host sends to the
// devices (in tun and kernel mode the proxy answers them through the
// tunnel interface) and for packets between devices; the third catches
// what arrives from the LAN, the replies of the license server.
type Routing struct {
	// Subnet is the tunnel subnet (10.44.0.0/24). Required.
	Subnet netip.Prefix
	// TunnelInterface is the tun or WireGuard interface in tun and kernel
	// mode; packets arriving from it keep the normal route. If empty (as in
	// netstack mode) there is no such rule.
	TunnelInterface string
	// Table is the routing table for the local route. If zero,
	// DefaultTable (1044).
	Table int
	// Priority is the first of three rule priorities (Priority,
	// Priority+1, Priority+2). If zero, DefaultPriority (10440). They must
	// come before the main table's rule (32766).
	Priority int
}

func (r Routing) table() int {
	if r.Table == 0 {
		return DefaultTable
	}
	return r.Table
}

func (r Routing) priority() int {
	if r.Priority == 0 {
		return DefaultPriority
	}
	return r.Priority
}

// Validate reports a Routing that Setup would refuse.
func (r Routing) Validate() error {
	if !r.Subnet.IsValid() {
		return fmt.Errorf("%w: no tunnel subnet", ErrBadConfig)
	}
	if r.Subnet.Masked() != r.Subnet || r.Subnet.Addr().Is4In6() {
		return fmt.Errorf("%w: tunnel subnet %s is not a network address (want %s)", ErrBadConfig, r.Subnet, r.Subnet.Masked())
	}
	switch t := r.table(); {
	case t < 0, t >= 252 && t <= 255:
		return fmt.Errorf("%w: routing table %d is reserved", ErrBadConfig, t)
	}
	if p := r.priority(); p < 1 || p+2 >= 32766 {
		return fmt.Errorf("%w: rule priority %d must be between 1 and 32763", ErrBadConfig, p)
	}
	if strings.ContainsAny(r.TunnelInterface, " /") || r.TunnelInterface == "lo" || len(r.TunnelInterface) > 15 {
		return fmt.Errorf("%w: tunnel interface %q", ErrBadConfig, r.TunnelInterface)
	}
	return nil
}

// Commands returns the ip(8) commands equivalent to what Setup installs,
// for `licgate --print-routing` and for administrators who prefer to
// install them by hand. It does not validate r.
func (r Routing) Commands() []string {
	fam := "-4"
	if r.Subnet.Addr().Is6() {
		fam = "-6"
	}
	p, t, s := r.priority(), r.table(), r.Subnet.String()
	cmds := []string{fmt.Sprintf("ip %s rule add pref %d to %s iif lo lookup main", fam, p, s)}
	if r.TunnelInterface != "" {
		cmds = append(cmds, fmt.Sprintf("ip %s rule add pref %d to %s iif %s lookup main", fam, p+1, s, r.TunnelInterface))
	}
	return append(cmds,
		fmt.Sprintf("ip %s rule add pref %d to %s lookup %d", fam, p+2, s, t),
		fmt.Sprintf("ip %s route add local %s dev lo table %d", fam, s, t))
}

// RemoveCommands returns the ip(8) commands that undo Commands.
func (r Routing) RemoveCommands() []string {
	fam := "-4"
	if r.Subnet.Addr().Is6() {
		fam = "-6"
	}
	p, t := r.priority(), r.table()
	cmds := []string{fmt.Sprintf("ip %s rule del pref %d", fam, p)}
	if r.TunnelInterface != "" {
		cmds = append(cmds, fmt.Sprintf("ip %s rule del pref %d", fam, p+1))
	}
	return append(cmds,
		fmt.Sprintf("ip %s rule del pref %d", fam, p+2),
		fmt.Sprintf("ip %s route flush table %d", fam, t))
}

// Commands is Routing.Commands as a function.
func Commands(r Routing) []string { return r.Commands() }

// ReturnPathError is ErrNoReturnRoute with what the LAN must add.
type ReturnPathError struct {
	// Subnet is the tunnel subnet the LAN must route.
	Subnet netip.Prefix
	// Gateway is this host's address on the way to the upstream: the
	// next hop of the missing route.
	Gateway netip.Addr
	// Upstream is the address that did not answer.
	Upstream string
	// Source is the tunnel address the probe came from.
	Source netip.Addr
}

// Windows is the command for a Windows license server (an elevated
// prompt; -p keeps it over reboots).
func (e *ReturnPathError) Windows() string {
	if e.Subnet.Addr().Is4() {
		m := net.CIDRMask(e.Subnet.Bits(), 32)
		return fmt.Sprintf("route -p add %s mask %d.%d.%d.%d %s", e.Subnet.Addr(), m[0], m[1], m[2], m[3], e.Gateway)
	}
	return fmt.Sprintf("route -p add %s %s", e.Subnet, e.Gateway)
}

// Linux is the command for a Linux license server or router.
func (e *ReturnPathError) Linux() string {
	return fmt.Sprintf("ip route add %s via %s", e.Subnet, e.Gateway)
}

func (e *ReturnPathError) Error() string {
	if !e.Gateway.IsValid() {
		return fmt.Sprintf("transparent: no answer from %s to %s: the license server (or the LAN router) needs a route for %s "+
			"via this host's LAN address (`licgate doctor` names the command)", e.Upstream, e.Source, e.Subnet)
	}
	return fmt.Sprintf("transparent: no answer from %s to %s: the license server (or the LAN router) needs a route for %s via %s: "+
		"on Windows `%s`, on Linux `%s`", e.Upstream, e.Source, e.Subnet, e.Gateway, e.Windows(), e.Linux())
}

// Is makes errors.Is(err, ErrNoReturnRoute) true.
func (e *ReturnPathError) Is(target error) bool { return target == ErrNoReturnRoute }

// probeSource is the address CheckReturnPath uses when given none: the
// subnet's last address, which no device is normally given.
func probeSource(subnet netip.Prefix) netip.Addr {
	a := subnet.Addr().AsSlice()
	bits := subnet.Bits()
	for i := range a {
		for b := 0; b < 8; b++ {
			if i*8+b >= bits {
				a[i] |= 0x80 >> b
			}
		}
	}
	if len(a) == 4 && bits < 31 {
		a[3]-- // not the broadcast address
	}
	addr, _ := netip.AddrFromSlice(a)
	return addr
}
