// Package gateway is the running licgate daemon's lifecycle: New (no side
// effects), Start (each step registers its closer), Close (the closers in
// reverse), Reload (the whole config swapped atomically), and the
// listeners: a proxy per license service inside the tunnel, the admin API
// on the unix socket, the admin listeners in the tunnel and on the LAN,
// and the public enrolment listener.
//
// The features live in their own packages and are wired here: identity
// (users, devices, enrolment links, the identity snapshot, peers),
// admission (authorize, explain, re-evaluate, sign-in windows, the
// enforcement loop), portal (the tunnel portal and sign-in enrolment),
// dirsync (the directory's snapshots) and, with cluster.enabled,
// cluster.Member. *Gateway implements adminapi.Backend, mostly through the
// identity.Manager and admission.Controller it embeds.
//
// Every connection arrives through the WireGuard tunnel from a device's
// tunnel address, which WireGuard authenticates, so each session is tied
// to a device and its user. Connections from addresses that belong to no
// device are refused.
//
// Typical usage:
//
//	cfg, err := config.Load("/etc/licgate/licgate.yaml")
//	g := gateway.New(cfg, logger)
//	if err := g.Start(ctx); err != nil { ... }
//	defer g.Close()
//	u, _ := g.AddUser(ctx, "alice", "")
//	res, _ := g.AddDevice(ctx, "alice", "laptop", "") // res.Profile is the wg-quick file
//	g.RevokeDevice(ctx, "alice", "laptop")             // sessions cut, then the peer removed
//
// With cluster.enabled (and store.driver: postgres) several gateways act
// as one (docs/ha.md): they share the WireGuard key, capped sessions are
// admitted against the whole cluster's counts (fail closed when
// PostgreSQL is unreachable), admin changes are sent to the other
// gateways, which apply them at once, and with cluster.vip the gateway
// that gains the VIP starts the handshake with recently seen devices.
//
// The state machine of a Gateway: new -> started -> closed. Close after a
// failed Start releases whatever Start had opened.
package gateway
