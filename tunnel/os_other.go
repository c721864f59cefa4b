//go:build !linux

package tunnel

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"

	"golang.zx2c4.com/wireguard/tun"
)

// NewTUN runs tun mode, which licgate supports on Linux only: elsewhere it
// returns ErrModeUnsupported.
func NewTUN(cfg Config, name string, subnet netip.Prefix, logger *slog.Logger) (*TUNDevice, error) {
	return nil, fmt.Errorf("tunnel: tun %w: %s (use tunnel.mode: netstack)", ErrModeUnsupported, runtime.GOOS)
}

// NewTUNWrapped is NewTUN with a wrapper (Linux only).
func NewTUNWrapped(cfg Config, name string, subnet netip.Prefix, wrap func(raw, filtered tun.Device) tun.Device, logger *slog.Logger) (*TUNDevice, error) {
	return NewTUN(cfg, name, subnet, logger)
}

// KernelDevice drives an existing WireGuard interface (Linux only).
type KernelDevice struct {
	osListeners
}

// NewKernel runs kernel mode, which licgate supports on Linux only:
// elsewhere it returns ErrModeUnsupported.
func NewKernel(cfg Config, name string, logger *slog.Logger) (*KernelDevice, error) {
	return nil, fmt.Errorf("tunnel: kernel %w: %s (use tunnel.mode: netstack)", ErrModeUnsupported, runtime.GOOS)
}

func (d *KernelDevice) unsupported() error {
	return fmt.Errorf("tunnel: kernel %w: %s", ErrModeUnsupported, runtime.GOOS)
}

// PublicKey is the interface's public key (never set here).
func (d *KernelDevice) PublicKey() Key { return Key{} }

// ListenPort is the interface's UDP port (never set here).
func (d *KernelDevice) ListenPort() int { return 0 }

// AddPeer returns ErrModeUnsupported.
func (d *KernelDevice) AddPeer(Peer) error { return d.unsupported() }

// RemovePeer returns ErrModeUnsupported.
func (d *KernelDevice) RemovePeer(Key) error { return d.unsupported() }

// Peers returns ErrModeUnsupported.
func (d *KernelDevice) Peers() ([]PeerStatus, error) { return nil, d.unsupported() }

// Close returns net.ErrClosed: there is nothing to close.
func (d *KernelDevice) Close() error { return net.ErrClosed }
