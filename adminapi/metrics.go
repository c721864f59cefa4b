//go:build !licgate_omit_metrics

package adminapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/licgate/licgate/adminapi/licmetrics"
)

// Metrics are licgate's Prometheus series, in a registry of their own:
// counters the gateway feeds as things happen, and live state read from
// a MetricsSource at scrape time.
type Metrics struct {
	reg            *prometheus.Registry
	DialSeconds    *prometheus.HistogramVec
	SessionsTotal  *prometheus.CounterVec
	Denials        *prometheus.CounterVec
	Bytes          *prometheus.CounterVec
	DDNSResults    *prometheus.CounterVec
	DDNSChangeTime *prometheus.GaugeVec
	lic            *licmetrics.Collector
}

// SetProducts makes the product series (licgate_product_seats_*) read f,
// at most every 30 s: the license managers' own status where known.
func (m *Metrics) SetProducts(f func(context.Context) []ProductSeats) {
	m.lic.SetProducts(func(ctx context.Context) []licmetrics.Product {
		var out []licmetrics.Product
		for _, p := range f(ctx) {
			out = append(out, licmetrics.Product(p))
		}
		return out
	})
}

// MetricsBuilt reports whether this build serves Prometheus metrics
// (false in builds made with the licgate_omit_metrics tag).
const MetricsBuilt = true

// NewMetrics registers the series; src is read at every scrape.
func NewMetrics(src MetricsSource) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.SessionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "licgate_sessions_total", Help: "Sessions admitted, by service and protocol."}, []string{"service", "proto"})
	m.Denials = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "licgate_denials_total", Help: "Connections refused, by service and reason."}, []string{"service", "reason"})
	m.Bytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "licgate_bytes_total", Help: "Bytes proxied by ended sessions, by service and direction."}, []string{"service", "direction"})
	m.DDNSResults = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "licgate_ddns_results_total", Help: "DDNS provider decisions, by provider, family and result (updated, unchanged, error, backoff, fatal)."}, []string{"provider", "family", "result"})
	m.DDNSChangeTime = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "licgate_ddns_address_change_timestamp_seconds", Help: "When the detected public address of a family last changed (the address itself is not a label)."}, []string{"family"})
	m.DialSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "licgate_upstream_dial_seconds", Help: "Time to connect to the license server, by service.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}, []string{"service"})
	auditWritten := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "licgate_audit_records_written_total", Help: "Audit records written to the state store."},
		func() float64 { w, _, _ := src.AuditStats(); return float64(w) })
	auditDropped := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "licgate_audit_records_dropped_total", Help: "Audit records dropped because the store fell behind (should stay 0)."},
		func() float64 { _, d, _ := src.AuditStats(); return float64(d) })
	auditFailed := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "licgate_audit_write_failures_total", Help: "Failed audit batch writes (each is retried with back-off)."},
		func() float64 { _, _, f := src.AuditStats(); return float64(f) })
	m.lic = licmetrics.New(func() []licmetrics.Service {
		var out []licmetrics.Service
		for _, s := range src.Services() {
			out = append(out, licmetrics.Service{Name: s.Name, InUse: s.Sessions, Limit: s.Pool})
		}
		return out
	})
	m.reg.MustRegister(auditWritten, auditDropped, auditFailed, m.lic)
	m.reg.MustRegister(m.SessionsTotal, m.Denials, m.Bytes, m.DDNSResults, m.DDNSChangeTime, m.DialSeconds,
		&liveCollector{src: src}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// liveCollector reads live state at scrape time: sessions by service,
// peers and their handshake ages, certificate expiry.
type liveCollector struct{ src MetricsSource }

var (
	descActive    = prometheus.NewDesc("licgate_sessions_active", "Live sessions, by service and protocol.", []string{"service", "proto"}, nil)
	descPeers     = prometheus.NewDesc("licgate_peers", "Configured WireGuard peers (devices).", nil, nil)
	descHandshake = prometheus.NewDesc("licgate_peer_handshake_age_seconds", "Seconds since each connected peer's last handshake (peers that never shook hands are left out).", []string{"user", "device"}, nil)
	descShared    = prometheus.NewDesc("licgate_shared_profile_suspected", "1 for devices whose endpoint alternated between two places within minutes in the last day (one profile on two machines?).", []string{"user", "device"}, nil)
	descAcks      = prometheus.NewDesc("licgate_tunnel_acks_total", "Bare TCP ACKs the netstack held back (tunnel.ack_delay), by outcome: carried (an answer carried the acknowledgment: one packet less through the tunnel) or sent (on their own after all).", []string{"outcome"}, nil)
	descPortmap   = prometheus.NewDesc("licgate_portmap_mapped", "1 while the router maps the WireGuard port (by protocol), 0 while it does not.", []string{"protocol", "external_port"}, nil)
	descPortLease = prometheus.NewDesc("licgate_portmap_lease_expiry_timestamp_seconds", "When the router drops the mapping unless renewed.", nil, nil)
	descDirStale  = prometheus.NewDesc("licgate_directory_stale", "1 while the last directory sync failed (the last good snapshot stays in force).", nil, nil)
	descDirUsers  = prometheus.NewDesc("licgate_directory_users", "Users in the directory snapshot in force.", nil, nil)
	descDirHeld   = prometheus.NewDesc("licgate_directory_held_users", "Users who would lose rights by the snapshot the safeguard holds back (0: none held; licgate directory accept).", nil, nil)
	descCircuit   = prometheus.NewDesc("licgate_cluster_db_circuit", "Cluster mode: 1 for the state the shared database's circuit breaker is in (closed: admissions ask the database; open, half-open: capped connects are refused at once).", []string{"state"}, nil)
	descTrips     = prometheus.NewDesc("licgate_cluster_db_circuit_trips_total", "Cluster mode: times the shared database did not answer and the circuit opened.", nil, nil)
	descCRefused  = prometheus.NewDesc("licgate_cluster_db_refused_total", "Cluster mode: database calls refused at once while the circuit was not closed.", nil, nil)
	descCert      = prometheus.NewDesc("licgate_certificate_expiry_timestamp_seconds", "When each served certificate expires.", []string{"name", "issuer"}, nil)
)

func (c *liveCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descActive
	ch <- descPeers
	ch <- descHandshake
	ch <- descCert
	ch <- descShared
	ch <- descAcks
	ch <- descPortmap
	ch <- descPortLease
	ch <- descDirStale
	ch <- descDirUsers
	ch <- descDirHeld
	ch <- descCircuit
	ch <- descTrips
	ch <- descCRefused
}

func (c *liveCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.src
	counts := map[[2]string]int{}
	for _, s := range src.Sessions() {
		counts[[2]string{s.Service, s.Proto}]++
	}
	for name, protos := range src.ServiceProtocols() {
		for _, p := range protos {
			ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(counts[[2]string{name, p}]), name, p)
		}
	}
	if peers, err := src.Peers(); err == nil {
		ch <- prometheus.MustNewConstMetric(descPeers, prometheus.GaugeValue, float64(len(peers)))
		for _, p := range peers {
			if p.LastHandshake != nil {
				ch <- prometheus.MustNewConstMetric(descHandshake, prometheus.GaugeValue, time.Since(*p.LastHandshake).Seconds(), p.User, p.Device)
			}
			if p.SharedSuspect {
				ch <- prometheus.MustNewConstMetric(descShared, prometheus.GaugeValue, 1, p.User, p.Device)
			}
		}
	}
	if st, ok := src.AckStats(); ok {
		ch <- prometheus.MustNewConstMetric(descAcks, prometheus.CounterValue, float64(st.Carried), "carried")
		ch <- prometheus.MustNewConstMetric(descAcks, prometheus.CounterValue, float64(st.Sent), "sent")
	}
	if ds := src.DirectoryStatus(); ds != nil {
		stale := 0.0
		if ds.Stale {
			stale = 1
		}
		ch <- prometheus.MustNewConstMetric(descDirStale, prometheus.GaugeValue, stale)
		ch <- prometheus.MustNewConstMetric(descDirUsers, prometheus.GaugeValue, float64(ds.Users))
		held := 0.0
		if ds.Held != nil {
			held = float64(ds.Held.Affected)
		}
		ch <- prometheus.MustNewConstMetric(descDirHeld, prometheus.GaugeValue, held)
	}
	if pm := src.PortmapStatus(); pm != nil {
		v := 0.0
		if pm.State == "mapped" {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descPortmap, prometheus.GaugeValue, v, pm.Protocol, strconv.Itoa(pm.ExternalPort))
		if !pm.LeaseExpiry.IsZero() {
			ch <- prometheus.MustNewConstMetric(descPortLease, prometheus.GaugeValue, float64(pm.LeaseExpiry.Unix()))
		}
	}
	if cl := src.ClusterHealth(); cl != nil {
		for _, st := range []string{"closed", "open", "half-open"} {
			v := 0.0
			if cl.Database == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descCircuit, prometheus.GaugeValue, v, st)
		}
		ch <- prometheus.MustNewConstMetric(descTrips, prometheus.CounterValue, float64(cl.Trips))
		ch <- prometheus.MustNewConstMetric(descCRefused, prometheus.CounterValue, float64(cl.Refused))
	}
	for _, cv := range src.Certs() {
		ch <- prometheus.MustNewConstMetric(descCert, prometheus.GaugeValue, float64(cv.NotAfter.Unix()), cv.Name, cv.Issuer)
	}
}

// Handler serves the registry (GET /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
