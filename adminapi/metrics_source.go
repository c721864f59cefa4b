package adminapi

import (
	"github.com/licgate/licgate/certs"
	"github.com/licgate/licgate/directory"
	"github.com/licgate/licgate/portmap"
	"github.com/licgate/licgate/session"
	"github.com/licgate/licgate/tunnel"
)

// MetricsSource is the live state read at each scrape.
type MetricsSource interface {
	// Sessions lists live sessions.
	Sessions() []session.SessionInfo
	// ServiceProtocols lists each service's protocols (for zero gauges).
	ServiceProtocols() map[string][]string
	// Peers lists WireGuard peers; an error leaves the peer series out.
	Peers() ([]PeerInfo, error)
	// AckStats is what became of the netstack's held ACKs; ok is false in
	// modes without them (tun, kernel), whose series are then left out.
	AckStats() (st tunnel.AckStats, ok bool)
	// Certs lists the certificates served.
	Certs() []certs.View
	// DirectoryStatus is the directory sync (nil without one).
	DirectoryStatus() *directory.Status
	// PortmapStatus is the router port mapping (nil when off).
	PortmapStatus() *portmap.Status
	// ClusterHealth is cluster mode's database circuit (nil without it).
	ClusterHealth() *ClusterHealth
	// Services lists the services with the seats licgate holds and their
	// caps (the licgate_service_seats_* series).
	Services() []ServiceView
	// AuditStats are the audit writer's counters.
	AuditStats() (written, dropped, failed int64)
}

// ProductSeats is one product's (feature's) seats for the metrics: as the
// license manager reports them (Source "server") or licgate's seat
// sessions ("licgate"); Total -1 when not known.
type ProductSeats struct {
	Service, Name, Source string
	InUse, Total          int
}
