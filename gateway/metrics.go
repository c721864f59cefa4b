package gateway

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the gateway's Prometheus series, in a registry of its own.
type metrics struct {
	reg            *prometheus.Registry
	dialSeconds    *prometheus.HistogramVec
	sessionsTotal  *prometheus.CounterVec
	denials        *prometheus.CounterVec
	bytes          *prometheus.CounterVec
	ddnsResults    *prometheus.CounterVec
	ddnsChangeTime *prometheus.GaugeVec
}

func newMetrics(g *Gateway) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.sessionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "licgate_sessions_total", Help: "Sessions admitted, by service and protocol."}, []string{"service", "proto"})
	m.denials = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "licgate_denials_total", Help: "Connections refused, by service and reason."}, []string{"service", "reason"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "licgate_bytes_total", Help: "Bytes proxied by ended sessions, by service and direction."}, []string{"service", "direction"})
	m.ddnsResults = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "licgate_ddns_results_total", Help: "DDNS provider decisions, by provider, family and result (updated, unchanged, error, backoff, fatal)."}, []string{"provider", "family", "result"})
	m.ddnsChangeTime = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "licgate_ddns_address_change_timestamp_seconds", Help: "When the detected public address of a family last changed (the address itself is not a label)."}, []string{"family"})
	m.dialSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "licgate_upstream_dial_seconds", Help: "Time to connect to the license server, by service.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}, []string{"service"})
	auditWritten := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "licgate_audit_records_written_total", Help: "Audit records written to the state store."},
		func() float64 { return float64(g.audit.Written()) })
	auditDropped := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "licgate_audit_records_dropped_total", Help: "Audit records dropped because the store fell behind (should stay 0)."},
		func() float64 { return float64(g.audit.Dropped()) })
	m.reg.MustRegister(auditWritten, auditDropped)
	m.reg.MustRegister(m.sessionsTotal, m.denials, m.bytes, m.ddnsResults, m.ddnsChangeTime, m.dialSeconds,
		&liveCollector{g: g}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// liveCollector reads live state at scrape time: sessions by service,
// peers and their handshake ages, certificate expiry.
type liveCollector struct{ g *Gateway }

var (
	descActive    = prometheus.NewDesc("licgate_sessions_active", "Live sessions, by service and protocol.", []string{"service", "proto"}, nil)
	descPeers     = prometheus.NewDesc("licgate_peers", "Configured WireGuard peers (devices).", nil, nil)
	descHandshake = prometheus.NewDesc("licgate_peer_handshake_age_seconds", "Seconds since each connected peer's last handshake (peers that never shook hands are left out).", []string{"user", "device"}, nil)
	descShared    = prometheus.NewDesc("licgate_shared_profile_suspected", "1 for devices whose endpoint alternated between two places within minutes in the last day (one profile on two machines?).", []string{"user", "device"}, nil)
	descAcks      = prometheus.NewDesc("licgate_tunnel_acks_total", "Bare TCP ACKs the netstack held back (tunnel.ack_delay), by outcome: carried (an answer carried the acknowledgment: one packet less through the tunnel) or sent (on their own after all).", []string{"outcome"}, nil)
	descCert      = prometheus.NewDesc("licgate_certificate_expiry_timestamp_seconds", "When each served certificate expires.", []string{"name", "issuer"}, nil)
)

func (c *liveCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descActive
	ch <- descPeers
	ch <- descHandshake
	ch <- descCert
	ch <- descShared
	ch <- descAcks
}

func (c *liveCollector) Collect(ch chan<- prometheus.Metric) {
	g := c.g
	counts := map[[2]string]int{}
	for _, s := range g.Sessions() {
		counts[[2]string{s.Service, s.Proto}]++
	}
	for _, sc := range g.conf().Services {
		for _, p := range sc.Protocols {
			ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(counts[[2]string{sc.Name, p}]), sc.Name, p)
		}
	}
	if g.tun == nil {
		return
	}
	if peers, err := g.Peers(); err == nil {
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
	if at, ok := g.tun.(ackCounter); ok {
		st := at.AckStats()
		ch <- prometheus.MustNewConstMetric(descAcks, prometheus.CounterValue, float64(st.Carried), "carried")
		ch <- prometheus.MustNewConstMetric(descAcks, prometheus.CounterValue, float64(st.Sent), "sent")
	}
	for _, cv := range g.certs.Views(g.conf().Tunnel.Address) {
		ch <- prometheus.MustNewConstMetric(descCert, prometheus.GaugeValue, float64(cv.NotAfter.Unix()), cv.Name, cv.Issuer)
	}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
