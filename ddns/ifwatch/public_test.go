package ifwatch

import "net/netip"

// testPublic is the tests' stand-in for ddns.CheckPublic: global unicast,
// not private, not CGNAT, not loopback.
func testPublic(a netip.Addr) bool {
	cgnat := netip.MustParsePrefix("100.64.0.0/10")
	return a.IsGlobalUnicast() && !a.IsPrivate() && !cgnat.Contains(a)
}
