package tunnel

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/licgate/licgate/tunnel/gvlink"
	"github.com/licgate/licgate/tunnel/wgtune"
)

// Config describes a WireGuard device.
type Config struct {
	// PrivateKey is the device's private key. Required.
	PrivateKey Key
	// ListenPort is the UDP port WireGuard listens on, on all addresses.
	// If zero, a free port is picked; ListenPort() reports it.
	ListenPort int
	// Addresses are the device's own tunnel addresses. At least one.
	Addresses []netip.Addr
	// MTU of the tunnel. If zero, 1420 (WireGuard's usual value).
	MTU int
	// Services are the ports on Addresses peers may reach in tun mode
	// besides those the device's own listeners hold open (see TUNDevice);
	// TUNDevice.SetAllowed replaces them. Ignored in the other modes
	// (netstack serves only its listeners anyway).
	Services []Service
	// AckDelay, if non-zero, lets the netstack hold a pure TCP ACK for up
	// to this long, so that it rides on the reply instead of costing a
	// packet of its own (see package gvlink). Netstack mode only.
	AckDelay time.Duration
}

func (c Config) mtu() int {
	if c.MTU == 0 {
		return 1420
	}
	return c.MTU
}

// Peer is a WireGuard peer as configured on a device.
type Peer struct {
	PublicKey Key
	// AllowedIPs are the tunnel addresses the peer may send from and that
	// are routed to it. For a home device: its one /32 (or /128).
	AllowedIPs []netip.Prefix
	// Endpoint is where to send the first packet. Zero for peers that
	// connect to us (the gateway side never needs it).
	Endpoint netip.AddrPort
	// PersistentKeepalive, if non-zero, keeps NAT mappings open.
	PersistentKeepalive time.Duration
}

// PeerStatus is a peer's live state.
type PeerStatus struct {
	PublicKey     Key
	Endpoint      netip.AddrPort // zero until the peer has sent a valid packet
	LastHandshake time.Time      // zero if never
	RxBytes       int64
	TxBytes       int64
	AllowedIPs    []netip.Prefix
}

// Device is a running WireGuard device with a gVisor network stack.
//
// Its life: NewNetstack returns it up and listening; Close takes it down
// and closes every listener and connection made through it; a second Close
// returns net.ErrClosed.
type Device struct {
	*wgDevice
	tnet *gvlink.TUN
	trim *wgtune.Trimmer
}

// wgDevice is what every wireguard-go device licgate runs has (netstack and
// tun mode): key, port, peers, Close.
type wgDevice struct {
	dev    *device.Device
	pub    Key
	log    *slog.Logger
	mu     sync.Mutex
	closed bool
	port   int
	lazy   lazyPeers
}

// newWGDevice starts wireguard-go on t and configures key and port.
func newWGDevice(t tun.Device, cfg Config, logger *slog.Logger) (*wgDevice, error) {
	d := &wgDevice{pub: cfg.PrivateKey.PublicKey(), log: logger}
	b := wgtune.NewBind(conn.NewDefaultBind(), wgtune.BindBatch, d.onInitiation)
	d.startLazy(cfg.PrivateKey)
	d.dev = device.NewDevice(t, b, wgLogger(logger))
	if err := d.configure(cfg); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// NewNetstack creates a WireGuard device on a userspace gVisor stack and
// brings it up: no root, no TUN, no kernel module. logger may be nil.
func NewNetstack(cfg Config, logger *slog.Logger) (*Device, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Addresses) == 0 {
		return nil, errors.New("tunnel: netstack: no tunnel address")
	}
	if cfg.ListenPort < 0 || cfg.ListenPort > 65535 {
		return nil, fmt.Errorf("tunnel: netstack: listen port %d out of range", cfg.ListenPort)
	}
	if cfg.AckDelay < 0 {
		return nil, fmt.Errorf("tunnel: netstack: negative ACK delay %s", cfg.AckDelay)
	}
	trim := wgtune.NewTrimmer()
	tnet, err := gvlink.New(cfg.Addresses, cfg.mtu(), cfg.AckDelay, trim.Bytes())
	if err != nil {
		trim.Close()
		return nil, fmt.Errorf("tunnel: netstack: create stack: %w", err)
	}
	wd, err := newWGDevice(tnet, cfg, logger)
	if err != nil {
		trim.Close()
		return nil, err
	}
	return &Device{wgDevice: wd, tnet: tnet, trim: trim}, nil
}

// configure sets the key and port and brings the device up.
func (d *wgDevice) configure(cfg Config) error {
	uapi := fmt.Sprintf("private_key=%s\nlisten_port=%d\n", hexKey(cfg.PrivateKey), cfg.ListenPort)
	if err := d.dev.IpcSet(uapi); err != nil {
		return fmt.Errorf("tunnel: configure: %w", err)
	}
	if err := d.dev.Up(); err != nil {
		return fmt.Errorf("tunnel: up (UDP listen port %d in use?): %w", cfg.ListenPort, err)
	}
	port, err := d.readListenPort()
	if err != nil {
		return err
	}
	d.port = port
	return nil
}

// wgLogger adapts wireguard-go's printf logger to slog. Verbose lines are
// only formatted when debug logging is on: they are per-packet in places.
func wgLogger(l *slog.Logger) *device.Logger {
	lg := &device.Logger{Verbosef: device.DiscardLogf, Errorf: func(format string, args ...any) {
		l.Warn("wireguard", slog.String("msg", fmt.Sprintf(format, args...)))
	}}
	if l.Enabled(context.Background(), slog.LevelDebug) {
		lg.Verbosef = func(format string, args ...any) {
			l.Debug("wireguard", slog.String("msg", fmt.Sprintf(format, args...)))
		}
	}
	return lg
}

func hexKey(k Key) string { return hex.EncodeToString(k[:]) }

// PublicKey is the device's public key.
func (d *wgDevice) PublicKey() Key { return d.pub }

// ListenPort is the UDP port the device listens on.
func (d *wgDevice) ListenPort() int { return d.port }

func (d *wgDevice) readListenPort() (int, error) {
	s, err := d.dev.IpcGet()
	if err != nil {
		return 0, fmt.Errorf("tunnel: read device state: %w", err)
	}
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(line, "listen_port="); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, errors.New("tunnel: device reports no listen port")
}

// AddPeer adds a peer, or replaces the allowed IPs and endpoint of an
// existing one with the same key. Takes effect at once: a new peer without
// an endpoint or keepalive (a home device, which always sends first) is
// added to wireguard-go in the background, and its first handshake
// initiation adds it at once if the background has not yet (see
// lazyPeers). A low-order public key is refused (ErrKeyLowOrder).
func (d *wgDevice) AddPeer(p Peer) error {
	if IsLowOrder(p.PublicKey) {
		return fmt.Errorf("tunnel: add peer %s: %w", p.PublicKey, ErrKeyLowOrder)
	}
	d.lazy.mu.Lock()
	defer d.lazy.mu.Unlock()
	if lazyOK(p) && d.dev.LookupPeer(device.NoisePublicKey(p.PublicKey)) == nil {
		d.record(p)
		return nil
	}
	d.forget(p.PublicKey)
	if err := d.addNow(p); err != nil {
		return fmt.Errorf("tunnel: add peer %s: %w", p.PublicKey, err)
	}
	return nil
}

// RemovePeer removes a peer. Its packets are dropped from then on, and
// its current keypair is forgotten, so nothing it sends is accepted again.
// Removing an unknown key is not an error.
func (d *wgDevice) RemovePeer(k Key) error {
	d.lazy.mu.Lock()
	defer d.lazy.mu.Unlock()
	if d.forget(k) {
		return nil // recorded only: never in wireguard-go
	}
	if err := d.dev.IpcSet(fmt.Sprintf("public_key=%s\nremove=true\n", hexKey(k))); err != nil {
		return fmt.Errorf("tunnel: remove peer %s: %w", k, err)
	}
	return nil
}

// Peers reports every peer's live state; peers not yet added to
// wireguard-go (see AddPeer) have never had a handshake.
func (d *wgDevice) Peers() ([]PeerStatus, error) {
	d.lazy.mu.Lock()
	defer d.lazy.mu.Unlock()
	s, err := d.dev.IpcGet()
	if err != nil {
		return nil, fmt.Errorf("tunnel: read peers: %w", err)
	}
	ps, err := parsePeers(s)
	if err != nil {
		return nil, err
	}
	for k, p := range d.lazy.pending {
		ps = append(ps, PeerStatus{PublicKey: k, AllowedIPs: slices.Clone(p.AllowedIPs)})
	}
	return ps, nil
}

// parsePeers reads the peer sections of a UAPI "get" answer.
func parsePeers(s string) ([]PeerStatus, error) {
	var out []PeerStatus
	var cur *PeerStatus
	var hsSec, hsNsec int64
	flush := func() {
		if cur != nil {
			if hsSec != 0 || hsNsec != 0 {
				cur.LastHandshake = time.Unix(hsSec, hsNsec)
			}
			out = append(out, *cur)
		}
		hsSec, hsNsec = 0, 0
	}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch k {
		case "public_key":
			flush()
			raw, err := hex.DecodeString(v)
			if err != nil || len(raw) != 32 {
				return nil, fmt.Errorf("tunnel: bad public key %q in device state", v)
			}
			cur = &PeerStatus{}
			copy(cur.PublicKey[:], raw)
		case "endpoint":
			if cur != nil {
				cur.Endpoint, _ = netip.ParseAddrPort(v)
			}
		case "last_handshake_time_sec":
			hsSec, _ = strconv.ParseInt(v, 10, 64)
		case "last_handshake_time_nsec":
			hsNsec, _ = strconv.ParseInt(v, 10, 64)
		case "rx_bytes":
			if cur != nil {
				cur.RxBytes, _ = strconv.ParseInt(v, 10, 64)
			}
		case "tx_bytes":
			if cur != nil {
				cur.TxBytes, _ = strconv.ParseInt(v, 10, 64)
			}
		case "allowed_ip":
			if cur != nil {
				if p, err := netip.ParsePrefix(v); err == nil {
					cur.AllowedIPs = append(cur.AllowedIPs, p)
				}
			}
		}
	}
	flush()
	return out, sc.Err()
}

// ListenTCP listens on a tunnel address. Connections' RemoteAddr is the
// peer's tunnel address, authenticated by WireGuard.
func (d *Device) ListenTCP(addr netip.AddrPort) (net.Listener, error) {
	ln, err := d.tnet.ListenTCP(addr)
	if err != nil {
		return nil, fmt.Errorf("tunnel: listen tcp %s: %w", addr, err)
	}
	return ln, nil
}

// ListenUDP listens for datagrams on a tunnel address.
func (d *Device) ListenUDP(addr netip.AddrPort) (net.PacketConn, error) {
	pc, err := d.tnet.ListenUDP(addr)
	if err != nil {
		return nil, fmt.Errorf("tunnel: listen udp %s: %w", addr, err)
	}
	return pc, nil
}

// DialContext dials through the tunnel ("tcp" or "udp", IP literals only).
func (d *Device) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := d.tnet.Dial(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("tunnel: dial %s %s: %w", network, address, err)
	}
	return c, nil
}

// AckStats reports what became of the bare ACKs held for AckDelay.
func (d *Device) AckStats() AckStats { return d.tnet.AckStats() }

// Close takes the device down. A second call returns net.ErrClosed.
func (d *Device) Close() error {
	err := d.wgDevice.Close()
	if err == nil {
		d.trim.Close()
	}
	return err
}

// Close takes the device down. A second call returns net.ErrClosed.
func (d *wgDevice) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return net.ErrClosed
	}
	d.closed = true
	d.stopLazy()
	d.dev.Close()
	return nil
}

// AckStats counts what happened to the bare ACKs a netstack device held
// (Config.AckDelay).
type AckStats = gvlink.AckStats
