// Package identity owns who may use the tunnel: users, devices, their
// expiry, enrolment links, the identity snapshot (tunnel address ->
// *session.Identity, which the proxy reads on every connect) and the
// WireGuard peers that follow the store.
//
// Every change goes to the store first, then the snapshot is published
// (from that moment connections from a removed, expired or disabled
// device are refused), then live sessions that lost their right are cut,
// and only once their closes had a moment to cross the tunnel are the
// peers changed (cutAndSync: one routine for revoke, rekey, disable,
// expiry and the other gateways' changes).
//
// Typical usage:
//
//	m := identity.New(identity.Deps{Store: st, Peers: tun, Sessions: table, Audit: w, Settings: settings})
//	if err := m.SyncPeers(ctx); err != nil { ... }
//	id, ok := m.Identify(addr)           // the proxy's hot path
//	n, err := m.RevokeDevice(ctx, "alice", "laptop")
package identity
