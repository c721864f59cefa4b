package tunnel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// ErrNeedNetAdmin means a mode needs CAP_NET_ADMIN the process lacks.
var ErrNeedNetAdmin = errors.New("needs CAP_NET_ADMIN")

// ErrModeUnsupported means tun or kernel mode was asked for on an
// operating system where licgate does not run them (all but Linux); it is
// wrapped with the GOOS. Netstack mode runs everywhere.
var ErrModeUnsupported = errors.New("mode not supported on this operating system")

// osListeners listen on the host's network stack: in tun and kernel modes
// the gateway's tunnel address is a real interface address, and WireGuard's
// allowed IPs make the source address of what arrives on it authentic.
type osListeners struct{}

// ListenTCP listens on a tunnel address of a real interface.
func (osListeners) ListenTCP(addr netip.AddrPort) (net.Listener, error) {
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(addr))
	if err != nil {
		return nil, fmt.Errorf("tunnel: listen tcp %s: %w", addr, err)
	}
	return ln, nil
}

// ListenUDP listens for datagrams on a tunnel address of a real interface.
func (osListeners) ListenUDP(addr netip.AddrPort) (net.PacketConn, error) {
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, fmt.Errorf("tunnel: listen udp %s: %w", addr, err)
	}
	return pc, nil
}

// TUNDevice is wireguard-go on a TUN interface licgate creates (tun mode,
// needs CAP_NET_ADMIN; Linux only). It shares the netstack Device's
// WireGuard handling; the packets go to the host stack, so do the
// listeners.
//
// It fails closed: a packet from a peer reaches the host only when it is
// addressed to one of Config.Addresses and to a service there, either one
// of the device's own open listeners (ListenTCP, ListenUDP) or one of
// Config.Services / SetAllowed; ICMP echo requests and the ICMP errors
// path MTU discovery needs are let through to those addresses too.
// Everything else (other ports, other addresses of this host, the LAN
// behind it) is dropped and counted (FilterStats). Replies to what the
// host sends are not affected: the host does not open connections to
// peers.
type TUNDevice struct {
	osListeners
	*wgDevice
	name   string
	filter *packetFilter
}

// Interface is the TUN interface's name.
func (d *TUNDevice) Interface() string { return d.name }

// SetAllowed replaces the services peers may reach besides the device's
// own listeners (Config.Services at start), at once for the next packet.
func (d *TUNDevice) SetAllowed(services []Service) error { return d.filter.setAllowed(services) }

// FilterStats reports how many packets from peers were dropped.
func (d *TUNDevice) FilterStats() FilterStats { return d.filter.stats() }

// ListenTCP listens on the host stack; while the listener is open, peers
// may reach its port on the gateway's tunnel address.
func (d *TUNDevice) ListenTCP(addr netip.AddrPort) (net.Listener, error) {
	ln, err := d.osListeners.ListenTCP(addr)
	if err != nil {
		return nil, err
	}
	tl := ln.(*net.TCPListener)
	done := d.track(addr, Service{"tcp", uint16(tl.Addr().(*net.TCPAddr).Port)}) // the real port, also for port 0
	return &trackedListener{TCPListener: tl, done: done}, nil
}

// ListenUDP listens on the host stack; while the socket is open, peers
// may reach its port on the gateway's tunnel address.
func (d *TUNDevice) ListenUDP(addr netip.AddrPort) (net.PacketConn, error) {
	pc, err := d.osListeners.ListenUDP(addr)
	if err != nil {
		return nil, err
	}
	uc := pc.(*net.UDPConn)
	done := d.track(addr, Service{"udp", uint16(uc.LocalAddr().(*net.UDPAddr).Port)})
	return &trackedUDP{UDPConn: uc, done: done}, nil
}

// track opens s in the filter if addr covers a gateway address, and
// returns what closes it again (once).
func (d *TUNDevice) track(addr netip.AddrPort, s Service) func() {
	a := addr.Addr().Unmap()
	if !a.IsUnspecified() && !d.filter.isGateway(a) {
		return func() {} // peers cannot reach it anyway
	}
	k, _ := s.key()
	d.filter.listen(k, 1)
	var once sync.Once
	return func() { once.Do(func() { d.filter.listen(k, -1) }) }
}

type trackedListener struct {
	*net.TCPListener
	done func()
}

func (l *trackedListener) Close() error {
	err := l.TCPListener.Close()
	l.done()
	return err
}

type trackedUDP struct {
	*net.UDPConn
	done func()
}

func (c *trackedUDP) Close() error {
	err := c.UDPConn.Close()
	c.done()
	return err
}
