package gateway_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/adminapi"

	"github.com/licgate/licgate/gateway/gatewaytest"
)

func httpsVia(t *testing.T, h *gatewaytest.Harness, dial func(ctx context.Context, network, addr string) (netConn, error)) *http.Client {
	root, err := h.GW.CARoot()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(root)
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DialContext: dial}}
}

// TestAdminInsideTunnel: the admin API answers over HTTPS at the gateway's
// tunnel address to devices of the admin group only (identity from their
// WireGuard key), and records who acted; the LAN listener wants its token.
func TestAdminInsideTunnel(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	tokenDir := t.TempDir()
	token := "a-long-random-token-for-the-lan-listener"
	os.WriteFile(filepath.Join(tokenDir, "token"), []byte(token+"\n"), 0o600)
	h := gatewaytest.New(t,
		gatewaytest.Policy("policy:\n  groups:\n    admins: [alice]\n  rules:\n    - {action: allow, who: [\"*\"]}\n"),
		gatewaytest.TopLevel(fmt.Sprintf("admin:\n  lan_listen: 127.0.0.1:0\n  token_file: %s\n", filepath.Join(tokenDir, "token"))))
	admin := h.AddDevice("alice", "laptop")
	other := h.AddDevice("bob", "pc")
	do := func(c *http.Client, method, url string, body any, hdr ...string) (int, string) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, url, rd)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ac := httpsVia(t, h, admin.Dev.DialContext)
	if code, body := do(ac, "GET", "https://10.44.0.1/api/v1/users", nil); code != 200 || !strings.Contains(body, `"alice"`) {
		t.Fatalf("admin device: %d %s", code, body)
	}
	if code, body := do(ac, "POST", "https://10.44.0.1/api/v1/users", adminapi.AddUserRequest{Name: "carol"}); code != 201 {
		t.Fatalf("admin add user: %d %s", code, body)
	}
	if code, body := do(ac, "POST", "https://10.44.0.1/api/v1/users", map[string]string{"name": "dave", "colour": "red"}); code != 400 || !strings.Contains(body, "unknown field") {
		t.Fatalf("unknown field: %d %s", code, body)
	}
	if code, body := do(ac, "POST", "https://10.44.0.1/api/v1/users", map[string]string{"email": "x@example.com"}); code != 400 || !strings.Contains(body, `"field": "name"`) {
		t.Fatalf("missing field: %d %s", code, body)
	}
	// Hardening: a JSON body that does not say so (what an HTML form on
	// another site can send, text/plain) is refused, and so is anything a
	// browser marks cross-site. Nothing changes.
	if code, body := do(ac, "POST", "https://10.44.0.1/api/v1/users", adminapi.AddUserRequest{Name: "eve"}, "Content-Type", "text/plain"); code != 415 {
		t.Fatalf("text/plain JSON: %d %s", code, body)
	}
	if code, body := do(ac, "POST", "https://10.44.0.1/api/v1/users", adminapi.AddUserRequest{Name: "eve"}, "Sec-Fetch-Site", "cross-site"); code != 403 {
		t.Fatalf("cross-site request: %d %s", code, body)
	}
	if code, body := do(ac, "POST", "https://10.44.0.1/api/v1/users", adminapi.AddUserRequest{Name: "eve"}, "Origin", "https://evil.example"); code != 403 {
		t.Fatalf("foreign Origin: %d %s", code, body)
	}
	if _, body := do(ac, "GET", "https://10.44.0.1/api/v1/users", nil); strings.Contains(body, `"eve"`) {
		t.Fatal("a refused request created a user")
	}
	// pprof lives on the local socket only.
	if code, _ := do(ac, "GET", "https://10.44.0.1/debug/pprof/", nil); code != 404 {
		t.Fatalf("pprof on the tunnel listener: %d", code)
	}
	lc := admin.TakeSeat(t)
	lc.Close()
	code, body := do(ac, "GET", "https://10.44.0.1/metrics", nil)
	for _, want := range []string{"licgate_sessions_active{", "licgate_peers 2", `licgate_peer_handshake_age_seconds{device="laptop",user="alice"}`,
		`licgate_upstream_dial_seconds_count{service="codemeter"} 1`, `licgate_certificate_expiry_timestamp_seconds{issuer="licgate internal CA",name="10.44.0.1"}`,
		`licgate_sessions_total{proto="tcp",service="codemeter"} 1`, "licgate_audit_records_dropped_total 0",
		`licgate_tunnel_acks_total{outcome="sent"}`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Every HTTPS request and the seat's HELLO were answered at once: their
	// acknowledgments rode on the answers.
	if !regexp.MustCompile(`licgate_tunnel_acks_total\{outcome="carried"\} [1-9]`).MatchString(body) {
		t.Errorf("no held ACK was carried by an answer:\n%s", regexp.MustCompile(`(?m)^licgate_tunnel_acks.*$`).FindAllString(body, -1))
	}
	oc := httpsVia(t, h, other.Dev.DialContext)
	if code, _ := do(oc, "GET", "https://10.44.0.1/api/v1/users", nil); code != 403 {
		t.Fatalf("non-admin device: %d", code)
	}
	h.GW.SyncAudit()
	evs, _ := h.GW.Store().AuditEvents(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 50)
	var acted bool
	for _, e := range evs {
		if e.Action == "user.add" && e.Detail == "carol" && e.Actor == "alice/laptop" {
			acted = true
		}
	}
	if !acted {
		t.Fatalf("acting identity not recorded: %+v", evs)
	}
	// The LAN listener: token or nothing.
	lan := httpsVia(t, h, func(ctx context.Context, network, _ string) (netConn, error) {
		var d netDialer
		return d.DialContext(ctx, network, h.GW.LANAddr().String())
	})
	if code, _ := do(lan, "GET", "https://10.44.0.1/api/v1/users", nil); code != 401 {
		t.Fatalf("LAN without token: %d", code)
	}
	if code, _ := do(lan, "GET", "https://10.44.0.1/api/v1/users", nil, "Authorization", "Bearer wrong"); code != 401 {
		t.Fatalf("LAN wrong token: %d", code)
	}
	if code, _ := do(lan, "GET", "https://10.44.0.1/api/v1/users", nil, "Authorization", "Bearer "+token); code != 200 {
		t.Fatalf("LAN with token: %d", code)
	}
	if code, _ := do(lan, "GET", "https://10.44.0.1/debug/pprof/", nil, "Authorization", "Bearer "+token); code != 404 {
		t.Fatalf("pprof on the LAN listener: %d", code)
	}
	// Browsers and curl offer ALPN h2 and http/1.1; the LAN listener
	// answered them "no application protocol" before.
	for _, protos := range [][]string{{"h2", "http/1.1"}, {"http/1.1"}} {
		tc, err := tls.Dial("tcp", h.GW.LANAddr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: protos})
		if err != nil {
			t.Fatalf("TLS with ALPN %v: %v", protos, err)
		}
		if got := tc.ConnectionState().NegotiatedProtocol; got != protos[0] {
			t.Errorf("ALPN %v: negotiated %q", protos, got)
		}
		tc.Close()
	}
	// Guessing is limited: after a few wrong tokens even the right one
	// waits (3,000 guesses went through in 0.4 s before).
	limited := false
	for i := 0; i < 20 && !limited; i++ {
		code, _ := do(lan, "GET", "https://10.44.0.1/api/v1/users", nil, "Authorization", fmt.Sprintf("Bearer guess-%d", i))
		limited = code == 429
	}
	if !limited {
		t.Fatal("20 wrong tokens in a row were all answered 401: no rate limit")
	}
}

// The sample Grafana dashboard queries only metrics licgate exports.
func TestGrafanaDashboardMetrics(t *testing.T) {
	data, err := os.ReadFile("../deploy/grafana-licgate.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, n := range []string{"licgate_sessions_active", "licgate_sessions_total", "licgate_denials_total", "licgate_bytes_total",
		"licgate_upstream_dial_seconds_bucket", "licgate_peer_handshake_age_seconds", "licgate_peers", "licgate_ddns_results_total",
		"licgate_certificate_expiry_timestamp_seconds", "licgate_ddns_address_change_timestamp_seconds", "licgate_tunnel_acks_total"} {
		exported[n] = true
	}
	re := regexp.MustCompile(`licgate_[a-z_]+`)
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, m := range re.FindAllString(tg.Expr, -1) {
				if !exported[m] {
					t.Errorf("panel %q uses %s, which licgate does not export", p.Title, m)
				}
			}
		}
	}
	if len(d.Panels) < 6 {
		t.Fatalf("%d panels", len(d.Panels))
	}
}
