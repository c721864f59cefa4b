// Package flowgate is licgate's forwarding mode (tunnel.forward): a
// packet filter between wireguard-go and the TUN interface that decides
// each new flow on its first packet, with the same identity, policy,
// caps, sign-in and audit as the proxy, and then lets the host's kernel
// forward the flow to the license server: no proxy, no socket pair, no
// copy goroutine in the data path (tailscale's model: a filter in front
// of the OS).
//
// It owns the per-packet work: allocation-free IPv4/IPv6 and TCP/UDP
// header parsing (Parse), the flow table (client address and port,
// protocol, gateway port), the address rewrite between the gateway's
// tunnel address and the upstream (incremental checksums, RFC 1624), and
// the resets a cut sends both ways. Every admitted flow is a
// session.Session in the gateway's table, so listing, caps,
// re-evaluation, revoke and the audit work unchanged: cutting the session
// (Session.Cut) resets both ends and drops what the flow sends after.
//
// A flow ends on RST, on FIN both ways, after HalfClose when only one side
// closed, or after TCPIdle/UDPIdle of silence. A TCP segment of no flow
// that is not a SYN is dropped; a refused SYN is answered with a reset;
// a refused UDP datagram is dropped.
//
// Typical usage (the gateway does this with tunnel.forward: true):
//
//	gate, err := flowgate.New(flowgate.Config{Gateway: gw, Services: svcs,
//		Identify: ids.Identify, Authorize: ctl.Authorize, Sessions: table})
//	dev, err := tunnel.NewTUNWrapped(cfg, "lg0", subnet, gate.Wrap, log)
//	teardown, err := flowgate.Routing{Subnet: subnet, Interface: "lg0"}.Setup() // ip_forward, masquerade
//
// The host needs IPv4 forwarding and, for services whose license server
// should see the gateway (source: gateway), a masquerade rule: Routing
// sets both up (nft) or prints them. With source: tunnel the LAN needs a
// route for the tunnel subnet via the gateway, as for the transparent
// proxy (docs/transparent.md).
//
// Not handled: IPv6 flows (the gateway's tunnel address is IPv4), IPv4
// fragments to a forwarded port (they go to the gateway's own filter),
// ICMP errors from the LAN about a flow (dropped on the way to peers).
package flowgate
