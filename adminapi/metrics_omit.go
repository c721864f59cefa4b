//go:build licgate_omit_metrics

package adminapi

import (
	"context"
	"errors"
	"net/http"
)

// ErrMetricsOmitted is what GET /metrics answers (404) in a build made
// with the licgate_omit_metrics tag (the router build).
var ErrMetricsOmitted = errors.New("metrics are not in this build (licgate_omit_metrics): use the full build for Prometheus, or the admin API (/api/v1/sessions, /api/v1/report) for the same facts")

// MetricsBuilt reports whether this build serves Prometheus metrics.
const MetricsBuilt = false

// Metrics, in a build without Prometheus, keeps the fields the gateway
// feeds (same names and calls as the full build) but records nothing, so
// the gateway needs no tags of its own.
type Metrics struct {
	DialSeconds    nopVec
	SessionsTotal  nopVec
	Denials        nopVec
	Bytes          nopVec
	DDNSResults    nopVec
	DDNSChangeTime nopVec
}

// NewMetrics returns metrics that record nothing; src is never read.
func NewMetrics(src MetricsSource) *Metrics { return &Metrics{} }

// SetProducts does nothing in this build.
func (m *Metrics) SetProducts(func(context.Context) []ProductSeats) {}

// Handler answers every request with 404 and ErrMetricsOmitted, so a
// scraper pointed at a router build fails visibly.
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, ErrMetricsOmitted)
	})
}

// nopVec stands for a Prometheus metric vector (counter, gauge or
// histogram) and drops what it is given.
type nopVec struct{}

func (nopVec) WithLabelValues(...string) nopMetric { return nopMetric{} }

type nopMetric struct{}

func (nopMetric) Inc()              {}
func (nopMetric) Add(float64)       {}
func (nopMetric) Set(float64)       {}
func (nopMetric) Observe(float64)   {}
func (nopMetric) SetToCurrentTime() {}
