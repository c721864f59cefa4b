package identity

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/tunnel"
)

// Peers reports every WireGuard peer with its last handshake, attributed
// to its device, and whether the device looks shared.
func (m *Manager) Peers() ([]adminapi.PeerInfo, error) {
	ps, err := m.d.Peers.Peers()
	if err != nil {
		return nil, err
	}
	return m.peerInfos(ps), nil
}

// peerInfos attributes peers to devices.
func (m *Manager) peerInfos(ps []tunnel.PeerStatus) []adminapi.PeerInfo {
	idents := m.Snapshot()
	out := make([]adminapi.PeerInfo, 0, len(ps))
	for _, p := range ps {
		pi := adminapi.PeerInfo{PublicKey: p.PublicKey.String()}
		if p.Endpoint.IsValid() {
			pi.Endpoint = p.Endpoint.String()
		}
		if !p.LastHandshake.IsZero() {
			t := p.LastHandshake
			pi.LastHandshake = &t
		}
		if len(p.AllowedIPs) == 1 {
			if id, ok := idents[p.AllowedIPs[0].Addr()]; ok {
				pi.User, pi.Device = id.User, id.Device
			}
		}
		if sus, pair := m.shared.Suspect(pi.PublicKey, time.Now()); sus {
			pi.SharedSuspect = true
			pi.Endpoints = []string{pair[0].String(), pair[1].String()}
		}
		out = append(out, pi)
	}
	return out
}

// TrackPeers feeds the peers' current endpoints to the shared-device
// detection and logs (and audits) devices that look shared: one profile
// on two machines makes a peer's endpoint alternate between two places.
// The enforcement loop calls it with every look at the peers.
func (m *Manager) TrackPeers(ps []tunnel.PeerStatus) {
	now := time.Now()
	for _, p := range m.peerInfos(ps) {
		ep, _ := netip.ParseAddrPort(p.Endpoint)
		if m.shared.Observe(p.PublicKey, ep, now) {
			_, pair := m.shared.Suspect(p.PublicKey, now)
			m.log.Warn("device looks shared: its endpoint alternates between two places (one profile on two machines?)",
				slog.String("user", p.User), slog.String("device", p.Device), slog.String("endpoint_a", pair[0].String()), slog.String("endpoint_b", pair[1].String()))
			m.d.Audit.Event("licgate", "device.shared_suspected", p.User+"/"+p.Device+" "+pair[0].String()+" <-> "+pair[1].String())
		}
	}
}
