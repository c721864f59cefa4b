//go:build linux

package tunnel

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/tun"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// NewTUN creates TUN interface name, runs WireGuard on it, assigns the
// first address with the subnet's prefix length, and brings it up.
// Packets from peers pass the filter described on TUNDevice.
func NewTUN(cfg Config, name string, subnet netip.Prefix, logger *slog.Logger) (*TUNDevice, error) {
	return NewTUNWrapped(cfg, name, subnet, nil, logger)
}

// NewTUNWrapped is NewTUN with wrap (if not nil) between wireguard-go
// and the interface: it is given the OS device (raw) and the same device
// behind the filter described on TUNDevice (filtered), and returns what
// wireguard-go reads and writes. The forwarding mode (package flowgate)
// decides its flows there and hands the rest to filtered.
func NewTUNWrapped(cfg Config, name string, subnet netip.Prefix, wrap func(raw, filtered tun.Device) tun.Device, logger *slog.Logger) (*TUNDevice, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Addresses) == 0 {
		return nil, errors.New("tunnel: tun: no tunnel address")
	}
	filter, err := newPacketFilter(cfg.Addresses, cfg.Services)
	if err != nil {
		return nil, err
	}
	t, err := tun.CreateTUN(name, cfg.mtu())
	if err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EPERM) || strings.Contains(err.Error(), "operation not permitted") {
			return nil, fmt.Errorf("tunnel: tun mode %w: run licgate as root, or `setcap cap_net_admin+ep` on the binary, or use tunnel.mode: netstack (%v)", ErrNeedNetAdmin, err)
		}
		return nil, fmt.Errorf("tunnel: tun: create %s: %w (is /dev/net/tun available?)", name, err)
	}
	real, err := t.Name()
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("tunnel: tun: %w", err)
	}
	var dev tun.Device = &filteredTUN{Device: t, f: filter}
	if wrap != nil {
		dev = wrap(t, dev)
	}
	d, err := newWGDevice(dev, cfg, logger)
	if err != nil {
		return nil, err
	}
	link, err := netlink.LinkByName(real)
	if err == nil {
		a := cfg.Addresses[0]
		err = netlink.AddrReplace(link, &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(subnet.Bits(), a.BitLen())}})
	}
	if err == nil {
		err = netlink.LinkSetUp(link)
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("tunnel: tun: configure %s: %w", real, err)
	}
	logger.Info("tun interface up", slog.String("interface", real), slog.String("address", cfg.Addresses[0].String()))
	return &TUNDevice{wgDevice: d, name: real, filter: filter}, nil
}

// KernelDevice drives an existing WireGuard interface through wgctrl:
// the Linux kernel module over netlink, or a userspace implementation
// (wireguard-go, boringtun) through its UAPI socket: the same calls.
type KernelDevice struct {
	osListeners
	c      *wgctrl.Client
	name   string
	pub    Key
	port   int
	mu     sync.Mutex
	closed bool
}

// NewKernel takes over interface name: sets the private key and listen
// port, and removes peers it does not know (licgate adds its own). The
// interface, its address, its up state and its firewall are the
// administrator's: packets from peers never pass through licgate, so the
// filter tun mode has must be the host's (see package kernelfw).
func NewKernel(cfg Config, name string, logger *slog.Logger) (*KernelDevice, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c, err := wgctrl.New()
	if err != nil {
		return nil, fmt.Errorf("tunnel: kernel mode: wgctrl: %w", err)
	}
	if _, err := c.Device(name); err != nil {
		c.Close()
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("tunnel: kernel mode: no WireGuard interface %q: create it first (ip link add dev %[1]s type wireguard; ip address add <tunnel.address>/<bits> dev %[1]s; ip link set %[1]s up), or use tunnel.mode: netstack", name)
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("tunnel: kernel mode %w to configure %s: run as root or with cap_net_admin", ErrNeedNetAdmin, name)
		}
		return nil, fmt.Errorf("tunnel: kernel mode: interface %s: %w", name, err)
	}
	key := cfg.PrivateKey
	port := cfg.ListenPort
	if err := c.ConfigureDevice(name, wgtypes.Config{PrivateKey: &key, ListenPort: &port, ReplacePeers: true}); err != nil {
		c.Close()
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("tunnel: kernel mode %w to configure %s: run as root or with cap_net_admin", ErrNeedNetAdmin, name)
		}
		return nil, fmt.Errorf("tunnel: kernel mode: configure %s (listen port %d in use?): %w", name, port, err)
	}
	dev, err := c.Device(name)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("tunnel: kernel mode: %s: %w", name, err)
	}
	if len(cfg.Addresses) > 0 {
		if err := checkAddress(name, cfg.Addresses[0]); err != nil {
			c.Close()
			return nil, err
		}
	}
	logger.Info("kernel-mode interface configured", slog.String("interface", name), slog.String("type", dev.Type.String()), slog.Int("listen_port", dev.ListenPort))
	logger.Warn("kernel mode: licgate does not filter what peers send; unless the host's firewall restricts the interface (kernelfw.Script writes nftables rules for it), peers reach every port of this host and whatever it forwards to", slog.String("interface", name))
	return &KernelDevice{c: c, name: name, pub: key.PublicKey(), port: dev.ListenPort}, nil
}

// checkAddress makes sure the gateway's tunnel address is on the interface.
func checkAddress(name string, a netip.Addr) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("tunnel: kernel mode: %s: %w", name, err)
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("tunnel: kernel mode: %s: %w", name, err)
	}
	for _, x := range addrs {
		if ip, ok := netip.AddrFromSlice(x.IP); ok && ip.Unmap() == a {
			return nil
		}
	}
	return fmt.Errorf("tunnel: kernel mode: interface %s does not have tunnel.address %s: ip address add %s/24 dev %s", name, a, a, name)
}

// PublicKey is the interface's public key.
func (d *KernelDevice) PublicKey() Key { return d.pub }

// ListenPort is the interface's UDP port.
func (d *KernelDevice) ListenPort() int { return d.port }

// AddPeer adds or updates a peer. A low-order public key is refused
// (ErrKeyLowOrder).
func (d *KernelDevice) AddPeer(p Peer) error {
	if IsLowOrder(p.PublicKey) {
		return fmt.Errorf("tunnel: add peer %s: %w", p.PublicKey, ErrKeyLowOrder)
	}
	pc := wgtypes.PeerConfig{PublicKey: p.PublicKey, ReplaceAllowedIPs: true}
	for _, a := range p.AllowedIPs {
		pc.AllowedIPs = append(pc.AllowedIPs, net.IPNet{IP: a.Addr().AsSlice(), Mask: net.CIDRMask(a.Bits(), a.Addr().BitLen())})
	}
	if p.Endpoint.IsValid() {
		pc.Endpoint = net.UDPAddrFromAddrPort(p.Endpoint)
	}
	if p.PersistentKeepalive > 0 {
		ka := p.PersistentKeepalive
		pc.PersistentKeepaliveInterval = &ka
	}
	if err := d.c.ConfigureDevice(d.name, wgtypes.Config{Peers: []wgtypes.PeerConfig{pc}}); err != nil {
		return fmt.Errorf("tunnel: add peer %s: %w", p.PublicKey, err)
	}
	return nil
}

// RemovePeer removes a peer.
func (d *KernelDevice) RemovePeer(k Key) error {
	if err := d.c.ConfigureDevice(d.name, wgtypes.Config{Peers: []wgtypes.PeerConfig{{PublicKey: k, Remove: true}}}); err != nil {
		return fmt.Errorf("tunnel: remove peer %s: %w", k, err)
	}
	return nil
}

// Peers reports every peer.
func (d *KernelDevice) Peers() ([]PeerStatus, error) {
	dev, err := d.c.Device(d.name)
	if err != nil {
		return nil, fmt.Errorf("tunnel: read peers: %w", err)
	}
	out := make([]PeerStatus, 0, len(dev.Peers))
	for _, p := range dev.Peers {
		ps := PeerStatus{PublicKey: p.PublicKey, RxBytes: p.ReceiveBytes, TxBytes: p.TransmitBytes}
		if !p.LastHandshakeTime.IsZero() && p.LastHandshakeTime.After(time.Unix(0, 0)) {
			ps.LastHandshake = p.LastHandshakeTime
		}
		if p.Endpoint != nil {
			ps.Endpoint = p.Endpoint.AddrPort()
		}
		for _, a := range p.AllowedIPs {
			ip, _ := netip.AddrFromSlice(a.IP)
			bits, _ := a.Mask.Size()
			ps.AllowedIPs = append(ps.AllowedIPs, netip.PrefixFrom(ip.Unmap(), bits))
		}
		out = append(out, ps)
	}
	return out, nil
}

// Close removes every peer, so no home device reaches this host through
// the interface while licgate is not there to check it, and releases
// wgctrl. The interface itself stays: it is the administrator's. A second
// call returns net.ErrClosed.
func (d *KernelDevice) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return net.ErrClosed
	}
	d.closed = true
	err := d.c.ConfigureDevice(d.name, wgtypes.Config{ReplacePeers: true})
	if cerr := d.c.Close(); err == nil {
		err = cerr
	}
	return err
}
