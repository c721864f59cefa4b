//go:build linux

package transparent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func dialFrom(ctx context.Context, timeout time.Duration, src netip.Addr, network, address string) (net.Conn, error) {
	var laddr net.Addr
	if network[:3] == "tcp" {
		laddr = &net.TCPAddr{IP: src.AsSlice()}
	} else {
		laddr = &net.UDPAddr{IP: src.AsSlice()}
	}
	d := net.Dialer{Timeout: timeout, LocalAddr: laddr, Control: control}
	return d.DialContext(ctx, network, address)
}

// localAddrToward is this host's source address on its route to dst
// (the next hop a LAN route back to the tunnel subnet must name), or the
// zero Addr if there is no route.
func localAddrToward(dst netip.Addr) netip.Addr {
	out, err := netlink.RouteGet(dst.Unmap().AsSlice())
	if err != nil || len(out) == 0 {
		return netip.Addr{}
	}
	a, _ := netip.AddrFromSlice(out[0].Src)
	return a.Unmap()
}

// control runs on the new socket before bind: IP_TRANSPARENT lets it bind
// and use an address this host does not own (and receive packets to it),
// IP_FREEBIND keeps bind from checking the address at all, and for TCP
// IP_BIND_ADDRESS_NO_PORT picks the port at connect, so that one tunnel
// address may reuse a port towards different upstreams.
func control(network, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		level, transparent, freebind := unix.SOL_IP, unix.IP_TRANSPARENT, unix.IP_FREEBIND
		if network == "tcp6" || network == "udp6" {
			level, transparent, freebind = unix.SOL_IPV6, unix.IPV6_TRANSPARENT, unix.IPV6_FREEBIND
		}
		if err := unix.SetsockoptInt(int(fd), level, transparent, 1); err != nil {
			serr = sockoptError("IP_TRANSPARENT", err)
			return
		}
		if err := unix.SetsockoptInt(int(fd), level, freebind, 1); err != nil {
			serr = sockoptError("IP_FREEBIND", err)
			return
		}
		if network == "tcp4" || network == "tcp6" {
			// Best effort: without it bind reserves the port for all
			// destinations, which is only less economical.
			_ = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

func sockoptError(opt string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w: setsockopt %s: %w", ErrNeedNetAdmin, opt, err)
	}
	return fmt.Errorf("setsockopt %s: %w", opt, err)
}

// Available reports whether this process may use source: tunnel: nil on
// Linux with CAP_NET_ADMIN in the effective set, else an error wrapping
// ErrNeedNetAdmin. Config validation at start calls it.
func Available() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("transparent: capget: %w", err)
	}
	if data[0].Effective&(1<<unix.CAP_NET_ADMIN) == 0 {
		return fmt.Errorf("%w: the process (uid %d) does not have it", ErrNeedNetAdmin, os.Geteuid())
	}
	return nil
}

func family(p netip.Prefix) int {
	if p.Addr().Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func netlinkError(what string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w: %s: %w", ErrNeedNetAdmin, what, err)
	}
	return fmt.Errorf("transparent: %s: %w", what, err)
}

// Setup installs r's policy routing (see Routing) in the calling thread's
// network namespace, after removing whatever a previous run left at r's
// priorities and in r's table, so it is idempotent and recovers from a
// crash. The returned teardown removes it again; it is safe to call more
// than once (later calls do nothing and return nil). On error nothing is
// left installed.
func Setup(r Routing) (teardown func() error, err error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if err := Remove(r); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = Remove(r)
		}
	}()
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return nil, netlinkError("find lo", err)
	}
	fam, dst, p := family(r.Subnet), ipNet(r.Subnet), r.priority()
	route := &netlink.Route{Family: fam, Dst: dst, Type: unix.RTN_LOCAL, Scope: netlink.SCOPE_HOST,
		Table: r.table(), LinkIndex: lo.Attrs().Index}
	if err := netlink.RouteAdd(route); err != nil {
		return nil, netlinkError(fmt.Sprintf("add route local %s dev lo table %d", r.Subnet, r.table()), err)
	}
	rule := func(prio int, iif string, table int) error {
		ru := netlink.NewRule()
		ru.Family, ru.Priority, ru.Dst, ru.IifName, ru.Table = fam, prio, dst, iif, table
		if err := netlink.RuleAdd(ru); err != nil {
			return netlinkError(fmt.Sprintf("add rule pref %d to %s iif %q lookup %d", prio, r.Subnet, iif, table), err)
		}
		return nil
	}
	// The exceptions first, so that the catch-all never sees this host's
	// own packets to the devices, not even for a moment.
	if err := rule(p, "lo", unix.RT_TABLE_MAIN); err != nil {
		return nil, err
	}
	if r.TunnelInterface != "" {
		if err := rule(p+1, r.TunnelInterface, unix.RT_TABLE_MAIN); err != nil {
			return nil, err
		}
	}
	if err := rule(p+2, "", r.table()); err != nil {
		return nil, err
	}
	var once sync.Once
	return func() error {
		var err error
		once.Do(func() { err = Remove(r) })
		return err
	}, nil
}

// Remove deletes the rules at r's three priorities and every route in r's
// table, in both address families: what Setup installed, or what a
// crashed run left. Nothing to remove is not an error.
func Remove(r Routing) error {
	if err := r.Validate(); err != nil {
		return err
	}
	p, t := r.priority(), r.table()
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rules, err := netlink.RuleList(fam)
		if errors.Is(err, unix.EAFNOSUPPORT) {
			continue // a kernel without IPv6
		}
		if err != nil {
			return netlinkError("list rules", err)
		}
		// The catch-all first, the exceptions last: the reverse of Setup.
		for i := len(rules) - 1; i >= 0; i-- {
			ru := rules[i]
			if (ru.Priority < p || ru.Priority > p+2) && ru.Table != t {
				continue
			}
			if err := netlink.RuleDel(&ru); err != nil && !errors.Is(err, unix.ENOENT) {
				return netlinkError(fmt.Sprintf("delete rule pref %d", ru.Priority), err)
			}
		}
		routes, err := netlink.RouteListFiltered(fam, &netlink.Route{Table: t}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return netlinkError(fmt.Sprintf("list table %d", t), err)
		}
		for _, rt := range routes {
			if err := netlink.RouteDel(&rt); err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
				return netlinkError(fmt.Sprintf("delete route %s table %d", rt.Dst, t), err)
			}
		}
	}
	return nil
}

// CheckReturnPath connects once to upstream (host:port, TCP) from src, a
// tunnel address (if invalid, the subnet's last address, which no device
// normally has), and reports:
//
//   - ErrLocalUpstream: upstream is this host;
//   - ErrNoLocalRoute: this host would not deliver the replies to its
//     sockets (Setup has not run);
//   - a *ReturnPathError (errors.Is ErrNoReturnRoute): no answer, the LAN
//     lacks the route for the tunnel subnet via this host;
//   - ErrNeedNetAdmin, or the connect error (a refusal means the way back
//     works but nothing listens).
//
// Without a deadline on ctx it waits 3s for the answer.
func CheckReturnPath(ctx context.Context, r Routing, src netip.Addr, upstream string) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if !src.IsValid() {
		src = probeSource(r.Subnet)
	}
	src = src.Unmap()
	host, port, err := net.SplitHostPort(upstream)
	if err != nil {
		return fmt.Errorf("%w: upstream %q: %w", ErrBadConfig, upstream, err)
	}
	netw := "ip4"
	if src.Is6() {
		netw = "ip6"
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, netw, host)
	if err != nil || len(ips) == 0 {
		return fmt.Errorf("transparent: resolve %s (%s): %w", host, netw, err)
	}
	up := ips[0].Unmap()
	if up.IsLoopback() {
		return fmt.Errorf("%w: %s", ErrLocalUpstream, up)
	}
	out, err := netlink.RouteGet(up.AsSlice())
	if err != nil || len(out) == 0 {
		return fmt.Errorf("transparent: no route to %s: %w", up, err)
	}
	if out[0].Type == unix.RTN_LOCAL {
		return fmt.Errorf("%w: %s is one of its addresses", ErrLocalUpstream, up)
	}
	gw, _ := netip.AddrFromSlice(out[0].Src)
	back, err := netlink.RouteGetWithOptions(src.AsSlice(), &netlink.RouteGetOptions{IifIndex: out[0].LinkIndex, SrcAddr: up.AsSlice()})
	if err != nil || len(back) == 0 || back[0].Type != unix.RTN_LOCAL {
		how := fmt.Sprintf("a packet from %s to %s would not be delivered locally", up, src)
		if err != nil {
			how = fmt.Sprintf("%s (%v)", how, err)
		}
		return fmt.Errorf("%w: %s; licgate installs it at start (see `licgate --print-routing`)", ErrNoLocalRoute, how)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
	}
	addr := net.JoinHostPort(up.String(), port)
	c, err := (&Dialer{}).DialFrom(ctx, src, "tcp", addr)
	if err == nil {
		return c.Close()
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, unix.ETIMEDOUT) || (errors.As(err, &ne) && ne.Timeout()) {
		return &ReturnPathError{Subnet: r.Subnet, Gateway: gw.Unmap(), Upstream: addr, Source: src}
	}
	if errors.Is(err, unix.ECONNREFUSED) {
		return fmt.Errorf("transparent: the way back from %s works, but nothing listens there: %w", addr, err)
	}
	return err
}
