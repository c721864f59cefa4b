package tunnel

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"syscall"
)

// Endpoint is the WireGuard side, whatever the mode: the proxy, policy and
// session code see only this. Listeners' RemoteAddr is the peer's
// WireGuard-authenticated tunnel address.
type Endpoint interface {
	// PublicKey is the gateway's public key; ListenPort its UDP port.
	PublicKey() Key
	ListenPort() int
	// AddPeer adds or replaces a peer; RemovePeer removes one (a missing
	// peer is not an error). Both take effect for the next packet.
	AddPeer(Peer) error
	RemovePeer(Key) error
	// Peers reports every peer with its endpoint and last handshake.
	Peers() ([]PeerStatus, error)
	// ListenTCP and ListenUDP listen on a tunnel address of the gateway.
	ListenTCP(netip.AddrPort) (net.Listener, error)
	ListenUDP(netip.AddrPort) (net.PacketConn, error)
	// Close stops WireGuard and closes every listener; connections in
	// flight see errors.
	Close() error
}

// Mode names how WireGuard runs.
const (
	ModeNetstack = "netstack" // userspace, no privileges, every OS
	ModeTUN      = "tun"      // a TUN interface licgate creates (Linux)
	ModeKernel   = "kernel"   // an existing kernel WireGuard interface (Linux)
)

// Open starts WireGuard in mode (netstack if empty); iface and subnet are
// for tun and kernel modes. Errors say how to fix what stops it.
func Open(mode string, cfg Config, iface string, subnet netip.Prefix, log *slog.Logger) (Endpoint, error) {
	var (
		d   Endpoint
		err error
	)
	switch mode {
	case ModeTUN:
		var t *TUNDevice
		if t, err = NewTUN(cfg, iface, subnet, log); err == nil {
			d = t
		}
	case ModeKernel:
		var k *KernelDevice
		if k, err = NewKernel(cfg, iface, log); err == nil {
			d = k
		}
	case ModeNetstack, "":
		var n *Device
		if n, err = NewNetstack(cfg, log); err == nil {
			d = n
		}
	default:
		return nil, fmt.Errorf("tunnel: unknown mode %q (netstack, tun or kernel)", mode)
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%w: UDP port %d is taken (another licgate or WireGuard?): change tunnel.listen_port", err, cfg.ListenPort)
	}
	return d, err
}
