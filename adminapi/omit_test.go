//go:build licgate_omit_metrics || licgate_omit_console || licgate_omit_pprof

package adminapi

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// In the router build the omitted parts answer 404 with a message naming
// the build tag, and the admin API beside them still works.
func TestOmittedPartsAnswer404(t *testing.T) {
	m := NewMetrics(nil)
	// The gateway feeds these unconditionally; they must accept it.
	m.SessionsTotal.WithLabelValues("s", "tcp").Inc()
	m.Bytes.WithLabelValues("s", "up").Add(1)
	m.DialSeconds.WithLabelValues("s").Observe(0.1)
	m.DDNSChangeTime.WithLabelValues("ipv4").SetToCurrentTime()
	h := Handler(&fakeBackend{}, Options{Metrics: m.Handler(), Pprof: true})
	get := func(path string) (int, string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "https://10.44.0.1"+path, nil))
		return w.Code, w.Body.String()
	}
	type row struct {
		path, want string
		code       int
	}
	var rows []row
	if !MetricsBuilt {
		rows = append(rows, row{"/metrics", "licgate_omit_metrics", 404})
	}
	if !ConsoleBuilt {
		for _, p := range []string{"/", "/index.html", "/app.js"} {
			rows = append(rows, row{p, "licgate_omit_console", 404})
		}
	}
	if !PprofBuilt {
		rows = append(rows, row{"/debug/pprof/heap", "licgate_omit_pprof", 404})
	}
	rows = append(rows, row{"/api/v1/users", "[]", 200})
	for _, r := range rows {
		code, body := get(r.path)
		if code != r.code || !strings.Contains(body, r.want) {
			t.Errorf("GET %s: %d %s; want %d containing %q", r.path, code, body, r.code, r.want)
		}
	}
}
