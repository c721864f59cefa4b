// Package ifwatch tells the ddns manager when the office's public address
// may have moved: it watches Linux netlink for the changes that matter (a
// default route added or removed, a global address on the uplink, the
// uplink going up or down, a public address appearing anywhere) and
// ignores the rest (veths, bridges, tunnels, address refreshes). Elsewhere
// it watches nothing and the manager's poll notices changes.
//
// Typical usage:
//
//	ch := ifwatch.Watch(ctx, logger, func(a netip.Addr) bool { return ddns.CheckPublic(a) == nil })
package ifwatch
