package ifwatch

import (
	"net/netip"
	"testing"
)

// The rule of uplinkFilter, event by event: a container start, a
// WireGuard tunnel and IPv6 address refreshes are no change; the uplink's
// addresses, state and default route, and public addresses, are.
func TestUplinkFilter(t *testing.T) {
	const lo, eth0, docker0, veth, wg0, ppp0 = 1, 2, 3, 4, 5, 6
	a := netip.MustParseAddr
	link := func(i int, up bool) ifEvent { return ifEvent{kind: evLink, index: i, up: up, loopback: i == lo} }
	addr := func(i int, s string) ifEvent { return ifEvent{kind: evAddr, index: i, addr: a(s), scopeGlobal: true} }
	def := func(i int, gw string) ifEvent { return ifEvent{kind: evRoute, index: i, defaultRoute: true, gw: a(gw)} }
	del := func(e ifEvent) ifEvent { e.del = true; return e }

	f := newUplinkFilter(testPublic)
	// What the dump at start shows.
	for _, e := range []ifEvent{link(lo, true), {kind: evAddr, index: lo, addr: a("127.0.0.1")}, link(eth0, true),
		addr(eth0, "192.168.1.10"), def(eth0, "192.168.1.1"), link(docker0, true), addr(docker0, "172.17.0.1"), link(wg0, true), addr(wg0, "10.44.0.1")} {
		f.apply(e)
	}
	steps := []struct {
		name string
		e    ifEvent
		want bool
	}{
		{"veth created", link(veth, false), false},
		{"veth up", link(veth, true), false},
		{"veth address", addr(veth, "172.17.0.2"), false},
		{"veth route", ifEvent{kind: evRoute, index: veth}, false},
		{"veth link-local v6", ifEvent{kind: evAddr, index: veth, addr: a("fe80::1")}, false},
		{"veth down", link(veth, false), false},
		{"veth gone", del(link(veth, false)), false},
		{"docker bridge re-addressed", addr(docker0, "172.18.0.1"), false},
		{"wireguard peer address", addr(wg0, "10.44.0.2"), false},
		{"eth0 refresh of a known address", addr(eth0, "192.168.1.10"), false},
		{"eth0 new IPv6 address", addr(eth0, "2001:db8::10"), true},
		{"IPv6 router advertisement refresh", addr(eth0, "2001:db8::10"), false},
		{"IPv6 link-local on eth0", ifEvent{kind: evAddr, index: eth0, addr: a("fe80::10")}, false},
		{"eth0 link message without state change", link(eth0, true), false},
		{"eth0 down", link(eth0, false), true},
		{"eth0 up again (routes not back yet)", link(eth0, true), false},
		{"default route back", def(eth0, "192.168.1.1"), true},
		{"same default route again", def(eth0, "192.168.1.1"), false},
		{"removing an unknown address", del(addr(eth0, "192.168.1.99")), false},
		{"eth0 address removed", del(addr(eth0, "192.168.1.10")), true},
		{"ppp0 created", link(ppp0, true), false},
		{"public address on ppp0", addr(ppp0, "198.51.100.7"), true},
		{"public address on loopback", addr(lo, "203.0.113.1"), false},
		{"default route via ppp0", def(ppp0, "198.51.100.1"), true},
		{"eth0 default route removed", del(def(eth0, "192.168.1.1")), true},
		{"eth0 address now: not an uplink", addr(eth0, "192.168.1.11"), false},
		{"ppp0 gone", del(link(ppp0, false)), true},
	}
	for _, s := range steps {
		if got := f.apply(s.e); got != s.want {
			t.Errorf("%s: relevant=%v, want %v", s.name, got, s.want)
		}
	}
	// 48 container events in a row trigger nothing.
	n := 0
	for i := 0; i < 8; i++ {
		idx := 100 + i
		for _, e := range []ifEvent{link(idx, false), link(idx, true), addr(idx, "172.17.0.9"), {kind: evRoute, index: idx}, link(idx, false), del(link(idx, false))} {
			if f.apply(e) {
				n++
			}
		}
	}
	if n != 0 {
		t.Errorf("48 container events: %d relevant", n)
	}
}
