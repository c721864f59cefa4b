package ifwatch

import "net/netip"

// Which interface changes can move the public address.
//
// An interface can carry the public address when it holds a default route
// in the main table (IPv4 or IPv6): it is the uplink, and what the echo
// sources see leaves through it. A router that holds the public address
// itself holds it on such an interface, and a public (global, not private,
// not CGNAT) address counts wherever it appears. Only these changes
// trigger a check:
//
//   - a default route added or removed (the uplink itself changed, e.g. a
//     PPPoE or DHCP reconnect);
//   - a global-scope address added to or removed from an uplink, or a
//     public address added or removed anywhere but loopback (a refresh of
//     an address already there, as IPv6 router advertisements send every
//     few minutes, is no change);
//   - an uplink going up or down (IFF_UP and IFF_RUNNING), or vanishing.
//
// Everything else is ignored: veth pairs and bridges of containers,
// WireGuard and other tunnels without a default route, loopback,
// link-local addresses, other routes, and link messages that change
// nothing but counters or names.

type ifEventKind uint8

const (
	evAddr ifEventKind = iota + 1
	evRoute
	evLink
)

// ifEvent is one interface notification, decoded from the OS's form.
type ifEvent struct {
	kind  ifEventKind
	del   bool // removed (address, route, link), else added or changed
	index int  // interface index

	addr        netip.Addr // evAddr
	scopeGlobal bool       // evAddr: RT_SCOPE_UNIVERSE

	defaultRoute bool       // evRoute: 0/0 or ::/0, unicast, main table
	gw           netip.Addr // evRoute: gateway, if any
	v6           bool       // evRoute: IPv6

	up       bool // evLink: IFF_UP and IFF_RUNNING
	loopback bool // evLink: IFF_LOOPBACK
}

type routeKey struct {
	v6    bool
	index int
	gw    netip.Addr
}

// uplinkFilter tracks links, addresses and default routes and tells
// whether an event changes something that can move the public address.
// Not safe for concurrent use.
type uplinkFilter struct {
	routes map[routeKey]bool
	addrs  map[int]map[netip.Addr]bool
	up     map[int]bool
	loop   map[int]bool
	// public says whether an address is a public one (ddns.CheckPublic).
	public func(netip.Addr) bool
}

func newUplinkFilter(public func(netip.Addr) bool) *uplinkFilter {
	return &uplinkFilter{routes: map[routeKey]bool{}, addrs: map[int]map[netip.Addr]bool{}, up: map[int]bool{}, loop: map[int]bool{}, public: public}
}

func (f *uplinkFilter) isUplink(index int) bool {
	for k := range f.routes {
		if k.index == index {
			return true
		}
	}
	return false
}

// apply records e and reports whether it is a relevant change.
func (f *uplinkFilter) apply(e ifEvent) bool {
	switch e.kind {
	case evRoute:
		if !e.defaultRoute {
			return false
		}
		k := routeKey{e.v6, e.index, e.gw}
		had := f.routes[k]
		if e.del {
			delete(f.routes, k)
			return had
		}
		f.routes[k] = true
		return !had
	case evLink:
		if e.del {
			was := f.isUplink(e.index)
			delete(f.up, e.index)
			delete(f.addrs, e.index)
			delete(f.loop, e.index)
			for k := range f.routes {
				if k.index == e.index {
					delete(f.routes, k)
				}
			}
			return was
		}
		f.loop[e.index] = e.loopback
		prev, known := f.up[e.index]
		f.up[e.index] = e.up
		relevant := known && prev != e.up && f.isUplink(e.index)
		if !e.up {
			// The kernel drops a downed link's routes without telling
			// (IPv4); they come back with notifications when it is up.
			for k := range f.routes {
				if k.index == e.index {
					delete(f.routes, k)
				}
			}
		}
		return relevant
	case evAddr:
		a := e.addr.Unmap()
		set := f.addrs[e.index]
		if e.del {
			if !set[a] {
				return false
			}
			delete(set, a)
		} else {
			if set[a] {
				return false // a refresh (lifetimes), not a change
			}
			if set == nil {
				set = map[netip.Addr]bool{}
				f.addrs[e.index] = set
			}
			set[a] = true
		}
		if f.loop[e.index] || !e.scopeGlobal || a.IsLinkLocalUnicast() || a.IsLoopback() {
			return false
		}
		return f.isUplink(e.index) || f.public(a)
	}
	return false
}
