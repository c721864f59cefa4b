// Package proxycmp is the benchmark's section 1 (`go run ./bench -only
// proxy`): licgate's proxy alone against a direct connection, HAProxy and
// socat, each a process of its own on loopback. ProxyRole is the copy of
// the benchmark that runs licgate's proxy.
//
// Typical usage:
//
//	server, _ := benchkit.Child(ctx, "server")
//	err := proxycmp.Run(ctx, server, 7, 3000, 64<<20)
package proxycmp
