// Package gateway is the running licgate daemon: configuration, the proxy
// for each license service (TCP splice, UDP relay with per-peer mappings),
// the session table and its enforcement, the state store, and the admin API
// served on a unix socket for the CLI.
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
//	g.RevokeDevice(ctx, "alice", "laptop")             // peer removed, sessions cut
//
// With cluster.enabled (and store.driver: postgres) several gateways act
// as one (cluster.go, docs/ha.md): they share the WireGuard key, capped
// sessions are admitted against the whole cluster's counts (fail closed
// when PostgreSQL is unreachable), admin changes are sent to the other
// gateways, which apply them at once, and with cluster.vip the gateway
// that gains the VIP starts the handshake with recently seen devices.
//
// The state machine of a Gateway: new -> started -> closed. Close after a
// failed Start releases whatever Start had opened.
package gateway
