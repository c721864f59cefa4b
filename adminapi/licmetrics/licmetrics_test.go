package licmetrics

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// scrape is reg's text exposition, without the HELP and TYPE lines.
func scrape(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	var lines []string
	for _, l := range strings.Split(rec.Body.String(), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// Services and products as scraped; the products answer is reused within
// MaxAge and read again after it.
func TestCollect(t *testing.T) {
	c := New(func() []Service {
		return []Service{{Name: "cad", InUse: 3, Limit: 5}, {Name: "sim", InUse: 1}}
	})
	var calls atomic.Int32
	inUse := atomic.Int32{}
	inUse.Store(7)
	c.MaxAge = time.Hour
	c.SetProducts(func(ctx context.Context) []Product {
		calls.Add(1)
		if _, ok := ctx.Deadline(); !ok {
			t.Error("products called without a deadline")
		}
		return []Product{{Service: "cad", Name: "solver", Source: "server", InUse: int(inUse.Load()), Total: 10}, {Service: "sim", Name: "sim", Source: "licgate", InUse: 1, Total: -1}}
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	want := `licgate_product_seats_in_use{product="sim",service="sim",source="licgate"} 1
licgate_product_seats_in_use{product="solver",service="cad",source="server"} 7
licgate_product_seats_total{product="solver",service="cad"} 10
licgate_service_seats_in_use{service="cad"} 3
licgate_service_seats_in_use{service="sim"} 1
licgate_service_seats_limit{service="cad"} 5`
	if got := scrape(t, reg); got != want {
		t.Fatalf("scraped:\n%s\nwant:\n%s", got, want)
	}
	inUse.Store(8)
	if got := scrape(t, reg); got != want || calls.Load() != 1 {
		t.Fatalf("within MaxAge: %d calls (want the cached answer, 1 call):\n%s", calls.Load(), got)
	}
	c.mu.Lock()
	c.at = time.Now().Add(-2 * time.Hour)
	c.mu.Unlock()
	if got := scrape(t, reg); got != strings.Replace(want, `source="server"} 7`, `source="server"} 8`, 1) || calls.Load() != 2 {
		t.Fatalf("after MaxAge: %d calls:\n%s", calls.Load(), got)
	}
	c.SetProducts(nil)
	if got := scrape(t, reg); strings.Contains(got, "licgate_product_") {
		t.Fatalf("product series without a source:\n%s", got)
	}
}
