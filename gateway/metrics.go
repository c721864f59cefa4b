package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"net/http"
)

// metrics are the gateway's Prometheus series, in a registry of its own.
type metrics struct {
	reg            *prometheus.Registry
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
	active := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "licgate_sessions_active", Help: "Live sessions."}, func() float64 { return float64(g.SessionCount()) })
	m.reg.MustRegister(m.sessionsTotal, m.denials, m.bytes, m.ddnsResults, m.ddnsChangeTime, active,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
