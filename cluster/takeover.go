package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/licgate/licgate/tunnel"
)

// Peers are the tunnel's WireGuard peers, as the VIP takeover reads and
// changes them.
type Peers interface {
	Peers() ([]tunnel.PeerStatus, error)
	AddPeer(p tunnel.Peer) error
	RemovePeer(k tunnel.Key) error
}

// Takeover watches vip every second (active/standby behind
// keepalived). While this gateway holds the VIP it records where devices
// were seen; when it gains the VIP it configures those endpoints with a
// keepalive, so WireGuard starts the handshake with each device at once
// instead of waiting for the device to give up on the dead gateway.
func (m *Member) Takeover(ctx context.Context, vip netip.Addr, peers Peers, lock func() (unlock func())) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	held := false
	var lastRecord time.Time
	var nudged []tunnel.Key // peers given an endpoint and keepalive on takeover
	for {
		now := hasAddr(vip)
		switch {
		case now && !held:
			var err error
			nudged, err = m.takeover(ctx, vip, peers, lock)
			n := len(nudged)
			if errors.Is(err, errNotFromVIP) {
				now = false // keepalived's notify script has not run yet: next second
				break
			}
			if err != nil {
				m.log.Error("cluster: takeover", slog.String("err", err.Error()))
			}
			m.log.Info("cluster: this gateway holds the VIP now: handshakes started with the devices seen recently",
				slog.String("vip", vip.String()), slog.Int("peers", n))
		case !now && held:
			m.log.Info("cluster: this gateway no longer holds the VIP", slog.String("vip", vip.String()))
			m.untakeover(nudged, peers, lock)
			nudged = nil
		}
		held = now
		if held && time.Since(lastRecord) >= 2*time.Second {
			lastRecord = time.Now()
			if err := m.recordEndpoints(ctx, peers); err != nil && ctx.Err() == nil {
				m.log.Warn("cluster: record endpoints", slog.String("err", err.Error()))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// hasAddr reports whether a is on a local interface.
func hasAddr(a netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ad := range addrs {
		if pn, ok := ad.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(pn.IP); ok && ip.Unmap() == a {
				return true
			}
		}
	}
	return false
}

// sourceFor is the local address packets to ep leave from (the kernel's
// route lookup of a connected UDP socket; nothing is sent).
func sourceFor(ep netip.AddrPort) netip.Addr {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ep))
	if err != nil {
		return netip.Addr{}
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
}

// recordEndpoints stores the endpoints of peers with a handshake in the
// last 3 minutes.
func (m *Member) recordEndpoints(ctx context.Context, peers Peers) error {
	ps, err := peers.Peers()
	if err != nil {
		return err
	}
	eps := map[string]netip.AddrPort{}
	for _, p := range ps {
		if p.Endpoint.IsValid() && !p.LastHandshake.IsZero() && time.Since(p.LastHandshake) < 3*time.Minute {
			eps[p.PublicKey.String()] = p.Endpoint
		}
	}
	return m.c.RecordEndpoints(ctx, eps)
}

// takeoverKeepalive is the keepalive given to peers on takeover: it makes
// wireguard-go initiate a handshake at once.
const takeoverKeepalive = 25 * time.Second

// errNotFromVIP: packets to the devices would not leave from the VIP.
var errNotFromVIP = errors.New("cluster: takeover: packets to devices do not leave from the VIP yet")

// takeover points every known peer at the endpoint the cluster last saw
// it at, with a keepalive. It returns the peers it changed. It does
// nothing (errNotFromVIP) until packets towards the devices leave from
// the VIP (keepalived's notify script sets the route's source): a
// handshake from another address would make the device follow that
// address, not the VIP.
func (m *Member) takeover(ctx context.Context, vip netip.Addr, peers Peers, lock func() (unlock func())) ([]tunnel.Key, error) {
	eps, err := m.c.Endpoints(ctx, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	for _, ep := range eps {
		if src := sourceFor(ep); src != vip {
			m.log.Debug("cluster: takeover waits: packets leave from another address", slog.String("source", src.String()))
			return nil, errNotFromVIP
		}
		break // one route check stands for all: devices are behind the default route
	}
	defer lock()()
	ps, err := peers.Peers()
	if err != nil {
		return nil, err
	}
	var nudged []tunnel.Key
	for _, p := range ps {
		ep, ok := eps[p.PublicKey.String()]
		if !ok {
			continue
		}
		if err := peers.AddPeer(tunnel.Peer{PublicKey: p.PublicKey, AllowedIPs: p.AllowedIPs, Endpoint: ep,
			PersistentKeepalive: takeoverKeepalive}); err != nil {
			return nudged, fmt.Errorf("cluster: takeover: %w", err)
		}
		nudged = append(nudged, p.PublicKey)
	}
	return nudged, nil
}

// untakeover gives the peers takeover changed back their plain form (no
// endpoint, no keepalive) when this gateway lost the VIP: keepalives
// sent from its own address would make the devices follow that address
// away from the VIP. Their sessions here are over anyway: the devices
// now reach the VIP's new holder.
func (m *Member) untakeover(keys []tunnel.Key, peers Peers, lock func() (unlock func())) {
	if len(keys) == 0 {
		return
	}
	defer lock()()
	ps, err := peers.Peers()
	if err != nil {
		m.log.Error("cluster: reset peers after losing the VIP", slog.String("err", err.Error()))
		return
	}
	current := map[tunnel.Key][]netip.Prefix{}
	for _, p := range ps {
		current[p.PublicKey] = p.AllowedIPs
	}
	for _, k := range keys {
		allowed, ok := current[k]
		if !ok {
			continue // revoked meanwhile
		}
		if err := peers.RemovePeer(k); err == nil {
			err = peers.AddPeer(tunnel.Peer{PublicKey: k, AllowedIPs: allowed})
		}
		if err != nil {
			m.log.Error("cluster: reset a peer after losing the VIP", slog.String("peer", k.String()), slog.String("err", err.Error()))
		}
	}
}
