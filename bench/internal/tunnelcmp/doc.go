// Package tunnelcmp is the benchmark's sections 2, 3 and 6 (`go run
// ./bench -only tunnel` or `-only setup`): a whole licgate gateway in this
// process against two stock wireguard-go netstack peers (the bare
// tunnel), then connection setup through it with the audit log on and
// off.
//
// Typical usage:
//
//	server, _ := benchkit.Child(ctx, "server")
//	err := tunnelcmp.Run(server, 7, 3000, 64<<20)
package tunnelcmp
