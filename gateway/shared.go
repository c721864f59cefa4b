package gateway

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/licgate/licgate/adminapi"
)

// trackEndpoints feeds the peers' current endpoints to the tracker and
// logs devices that look shared.
func (g *Gateway) trackEndpoints(peers []adminapi.PeerInfo) {
	now := time.Now()
	for _, p := range peers {
		ep, _ := netip.ParseAddrPort(p.Endpoint)
		if g.shared.Observe(p.PublicKey, ep, now) {
			_, pair := g.shared.Suspect(p.PublicKey, now)
			g.log.Warn("device looks shared: its endpoint alternates between two places (one profile on two machines?)",
				slog.String("user", p.User), slog.String("device", p.Device), slog.String("endpoint_a", pair[0].String()), slog.String("endpoint_b", pair[1].String()))
			g.auditEvent("licgate", "device.shared_suspected", p.User+"/"+p.Device+" "+pair[0].String()+" <-> "+pair[1].String())
		}
	}
}
