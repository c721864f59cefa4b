// Package clustertest holds helpers for high-availability tests: a pair
// of keepalived daemons in two network namespaces, joined by a veth
// link, sharing a virtual IP exactly as deploy/keepalived's example
// configurations describe (the configurations are rendered from those
// files, so the tests check what is shipped).
//
// Needs root, iproute2 and Debian's keepalived; without them tests skip
// (under CI=true they fail, see testnet.Missing).
//
// Typical usage:
//
//	p := clustertest.StartVRRP(t, clustertest.VRRPOptions{})
//	p.WaitHolder(t, 0, 10*time.Second)  // gateway A holds the VIP
//	p.Kill(0)                           // A's keepalived dies
//	gap := p.WaitHolder(t, 1, 10*time.Second)
package clustertest
