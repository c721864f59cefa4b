// Package tunnel owns licgate's WireGuard side: keys, the WireGuard device
// (netstack mode: userspace wireguard-go on the gVisor stack, no root, no TUN),
// peers added and removed while running, per-peer handshake ages, and the
// client profiles home users import (wg-quick text and QR code).
//
// Typical usage:
//
//	key, _ := tunnel.GenerateKey()
//	dev, err := tunnel.NewNetstack(tunnel.Config{
//		PrivateKey: key,
//		ListenPort: 51820,
//		Addresses:  []netip.Addr{netip.MustParseAddr("10.44.0.1")},
//	}, logger)
//	defer dev.Close()
//	dev.AddPeer(tunnel.Peer{PublicKey: pub, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.44.0.2/32")}})
//	ln, err := dev.ListenTCP(netip.MustParseAddrPort("10.44.0.1:22350"))
//
// A WireGuard peer's AllowedIPs hold only its own tunnel address, so
// cryptokey routing makes the source address of every packet that leaves the
// device a proof of the sender's key: the gateway relies on that for identity.
//
// The gVisor stack is joined to wireguard-go by licgate's own link
// (stack.go) rather than wireguard-go's tun/netstack: it batches packets to
// wireguard-go, applies backpressure instead of a per-packet handoff, and can
// delay bare TCP ACKs (Config.AckDelay) so that an answer carries them.
//
// This package imports nothing else from licgate.
package tunnel
