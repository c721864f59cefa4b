// Package licmetrics is the Prometheus view of licenses: per service, the
// seats licgate's sessions hold and the service's cap; per product
// (feature), the seats in use and issued as the license manager reports
// them where licgate reads its status (FlexNet, RLM), licgate's own seat
// sessions otherwise.
//
// Typical usage (adminapi.NewMetrics does this):
//
//	reg.MustRegister(licmetrics.New(servicesFunc))
//	c.SetProducts(productsFunc) // when the gateway knows the managers
package licmetrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Service is one configured service as licgate holds it.
type Service struct {
	Name string
	// InUse is the seats licgate's sessions hold; Limit the service's cap
	// (services.X.max_sessions; 0: none).
	InUse, Limit int
}

// Product is one product (feature) of a service: Source is "server"
// (the manager's own status) or "licgate" (seat sessions); Total is the
// seats issued, -1 when not known. (Its fields are adminapi.ProductSeats'.)
type Product struct {
	Service, Name, Source string
	InUse, Total          int
}

// Collector reads services at every scrape, and products at most every
// MaxAge (reading a manager's status runs its status tool).
type Collector struct {
	// MaxAge is how long products' answer is reused. If zero, 30s.
	MaxAge time.Duration
	// Timeout bounds one products call. If zero, 10s.
	Timeout time.Duration

	services func() []Service

	mu       sync.Mutex
	products func(context.Context) []Product
	cached   []Product
	at       time.Time
}

// New returns a collector of services (nil: none).
func New(services func() []Service) *Collector { return &Collector{services: services} }

// SetProducts sets where products come from (nil: no product series).
func (c *Collector) SetProducts(f func(context.Context) []Product) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.products, c.cached, c.at = f, nil, time.Time{}
}

var (
	descSvcInUse = prometheus.NewDesc("licgate_service_seats_in_use", "Seats held through licgate (its seat sessions), by service.", []string{"service"}, nil)
	descSvcLimit = prometheus.NewDesc("licgate_service_seats_limit", "The service's cap (services.X.max_sessions); absent when uncapped.", []string{"service"}, nil)
	descPrdInUse = prometheus.NewDesc("licgate_product_seats_in_use", "Seats in use by product, as the license manager reports them (source server) or licgate's seat sessions (source licgate).", []string{"service", "product", "source"}, nil)
	descPrdTotal = prometheus.NewDesc("licgate_product_seats_total", "Seats issued by product, where the license manager reports them.", []string{"service", "product"}, nil)
)

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descSvcInUse
	ch <- descSvcLimit
	ch <- descPrdInUse
	ch <- descPrdTotal
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if c.services != nil {
		for _, s := range c.services() {
			ch <- prometheus.MustNewConstMetric(descSvcInUse, prometheus.GaugeValue, float64(s.InUse), s.Name)
			if s.Limit > 0 {
				ch <- prometheus.MustNewConstMetric(descSvcLimit, prometheus.GaugeValue, float64(s.Limit), s.Name)
			}
		}
	}
	for _, p := range c.readProducts() {
		ch <- prometheus.MustNewConstMetric(descPrdInUse, prometheus.GaugeValue, float64(p.InUse), p.Service, p.Name, p.Source)
		if p.Total >= 0 {
			ch <- prometheus.MustNewConstMetric(descPrdTotal, prometheus.GaugeValue, float64(p.Total), p.Service, p.Name)
		}
	}
}

// readProducts is products' answer, at most MaxAge old. Scrapes wait for
// one call at a time rather than start a status tool each.
func (c *Collector) readProducts() []Product {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.products == nil {
		return nil
	}
	maxAge := c.MaxAge
	if maxAge == 0 {
		maxAge = 30 * time.Second
	}
	if !c.at.IsZero() && time.Since(c.at) < maxAge {
		return c.cached
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c.cached, c.at = c.products(ctx), time.Now()
	return c.cached
}
