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
// (package gvlink) rather than wireguard-go's tun/netstack: it batches packets to
// wireguard-go, applies backpressure instead of a per-packet handoff, and can
// delay bare TCP ACKs (Config.AckDelay) so that an answer carries them.
//
// Memory and start (peers.go, package wgtune): a home device's peer
// (no endpoint, no keepalive) is recorded by AddPeer and added to
// wireguard-go in the background, because wireguard-go precomputes a
// Curve25519 secret per peer; its first handshake initiation adds it at
// once, so it can connect the moment AddPeer returns. wireguard-go is fed
// batches of 16 datagrams (each slot holds a 64 KiB buffer), the gateway's
// stack uses small TCP windows, and its buffer pool is trimmed when a
// burst of traffic ends.
//
// Modes: netstack (NewNetstack) runs on every platform licgate builds
// for. Tun mode (NewTUN: wireguard-go on a TUN interface, the host stack)
// and kernel mode (NewKernel: an existing WireGuard interface driven
// through wgctrl) are Linux-only; elsewhere they return an error matching
// ErrModeUnsupported.
//
// Tun and kernel modes put peers on the host's own stack, so they must
// fail closed: a TUNDevice drops every packet from a peer that is not for
// one of the gateway's services on its tunnel address (its open
// listeners, Config.Services, SetAllowed) and counts the drops
// (FilterStats). In kernel mode packets never pass through licgate; the
// same policy is the host firewall's, and package kernelfw writes it as
// nftables rules.
//
// Keys: ParseKey and ParsePublicKey accept only the canonical 44-character
// encoding that Key.String gives back, so one key has one spelling
// wherever it is stored or compared; ParsePublicKey also refuses the
// low-order Curve25519 points (the all-zero key among them). Every public
// key from outside should go through ParsePublicKey.
//
// This package imports nothing else from licgate than its own
// sub-packages: gvlink (the netstack link) and wgtune (the bind, handshake
// reading and buffer trimming).
package tunnel
