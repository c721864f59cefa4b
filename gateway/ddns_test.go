package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licgate/licgate/adminapi"

	"github.com/licgate/licgate/config"

	"github.com/licgate/licgate/ddns"
	"github.com/licgate/licgate/ddns/ddnstest"
	"github.com/licgate/licgate/gateway"
	"github.com/licgate/licgate/gateway/gatewaytest"
)

// TestGatewayDDNSAcrossRestart: the gateway updates BIND (RFC 2136) and a
// dyndns2 stand-in at start, and a restarted gateway with the same state
// sends nothing for the unchanged address.
func TestGatewayDDNSAcrossRestart(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	b := ddnstest.StartBIND(t, "example.test")
	var addr atomic.Pointer[string]
	a := "203.0.113.77"
	addr.Store(&a)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, *addr.Load()) }))
	defer echo.Close()
	var dynHits atomic.Int64
	dyn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dynHits.Add(1)
		fmt.Fprint(w, "good "+r.URL.Query().Get("myip"))
	}))
	defer dyn.Close()
	dir, _ := os.MkdirTemp("", "lgd")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "tsig.key"), []byte(b.Secret+"\n"), 0o600)
	cfgPath := filepath.Join(dir, "licgate.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`state_dir: %s
tunnel:
  listen_port: 0
services:
  - name: codemeter
    port: 22350
    upstream: 127.0.0.1:9
ddns:
  host: office.example.test
  interval: 1h
  sources:
    - {type: http, name: echo, url4: %q}
  providers:
    - name: office-dns
      type: rfc2136
      server: %s
      zone: example.test
      key_name: %s
      secret_file: tsig.key
    - name: alias
      type: dyndns2
      url: %s/nic/update
      username: office
      password: pw
`, dir, echo.URL, b.Addr, b.KeyName, dyn.URL)), 0o600)

	run := func() []ddns.Status {
		cfg, err := config.Load(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Tunnel.Endpoint != "office.example.test" {
			t.Fatalf("profiles' endpoint %q, want the ddns host", cfg.Tunnel.Endpoint)
		}
		g := gateway.New(cfg, gatewaytest.Logger(t))
		if err := g.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			st := g.DDNSStatus()
			if len(st) == 2 && st[0].Detected.IsValid() && st[1].Detected.IsValid() && st[0].LastAddr.IsValid() && st[1].LastAddr.IsValid() {
				return st
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("first check did not complete: %+v", g.DDNSStatus())
		return nil
	}
	st := run()
	// Sorted by name: alias (dyndns2), office-dns (rfc2136).
	if st[0].Updates != 1 || st[1].Updates != 1 {
		t.Fatalf("first start: %+v", st)
	}
	if got := query(t, b.Addr, "office.example.test"); got != "203.0.113.77" {
		t.Fatalf("BIND has %q", got)
	}
	if dynHits.Load() != 1 {
		t.Fatalf("dyndns2 calls after first start: %d", dynHits.Load())
	}
	st = run()
	if dynHits.Load() != 1 {
		t.Fatalf("restart re-sent the unchanged address to dyndns2 (%d calls)", dynHits.Load())
	}
	for _, s := range st {
		if s.Updates != 0 || s.LastAddr.String() != "203.0.113.77" {
			t.Fatalf("after restart: %+v", s)
		}
	}
}

func query(t *testing.T, server, host string) string {
	got, err := ddns.QueryAuthoritative(context.Background(), server, host, ddns.IPv4, 3*time.Second)
	if err != nil || len(got) != 1 {
		t.Fatalf("query %s: %v %v", host, got, err)
	}
	return got[0].String()
}

func TestDDNSStatusAPIAndMetrics(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	var addr atomic.Pointer[string]
	a := "203.0.113.1"
	addr.Store(&a)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, *addr.Load()) }))
	defer echo.Close()
	dyn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pw, _ := r.BasicAuth(); pw == "fixed" {
			fmt.Fprint(w, "good")
			return
		}
		fmt.Fprint(w, "badauth")
	}))
	defer dyn.Close()
	h := gatewaytest.New(t, gatewaytest.TopLevel(fmt.Sprintf(`ddns:
  host: office.example.net
  interval: 1h
  sources: [{type: http, url4: %q}]
  providers:
    - {name: noip, type: dyndns2, url: %q, username: u, password: p}
`, echo.URL, dyn.URL)))
	c := adminapi.NewClient(h.Config.Socket)
	var v adminapi.DDNSView
	if err := c.Do(context.Background(), "POST", "/api/v1/ddns/update", nil, &v); err != nil {
		t.Fatal(err)
	}
	if !v.Enabled || len(v.Providers) != 1 || !v.Providers[0].Stopped || !strings.Contains(v.Providers[0].LastError, "badauth") {
		t.Fatalf("status: %+v", v)
	}
	// The address change is an event the gateway logs and counts.
	b := "203.0.113.2"
	addr.Store(&b)
	c.Do(context.Background(), "POST", "/api/v1/ddns/update", nil, &v)
	resp, err := httpGetUnix(h.Config.Socket, "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`licgate_ddns_results_total{family="ipv4",provider="noip",result="fatal"} 1`,
		`licgate_ddns_address_change_timestamp_seconds{family="ipv4"}`, `licgate_sessions_active{proto="tcp",service="codemeter"} 0`, "licgate_peers 0"} {
		if !strings.Contains(resp, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	h.GW.SyncAudit()
	evs, _ := h.GW.Store().AuditEvents(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 10)
	found := false
	for _, e := range evs {
		if e.Action == "ddns.address_change" && strings.Contains(e.Detail, "203.0.113.1 -> 203.0.113.2") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no address-change event: %+v", evs)
	}
	// Fixing the configuration and reloading un-stops the provider.
	data, _ := os.ReadFile(h.ConfigPath)
	os.WriteFile(h.ConfigPath, []byte(strings.Replace(string(data), "password: p}", "password: fixed}", 1)), 0o600)
	if _, err := h.GW.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(context.Background(), "POST", "/api/v1/ddns/update", nil, &v); err != nil {
		t.Fatal(err)
	}
	if p := v.Providers[0]; p.Stopped || p.Updates != 1 || p.LastAddr.String() != "203.0.113.2" {
		t.Fatalf("after fixing the config: %+v", p)
	}
}

func httpGetUnix(sock, path string) (string, error) {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (netConn, error) { return dialUnix(ctx, sock) }}
	resp, err := (&http.Client{Transport: tr}).Get("http://licgate" + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
