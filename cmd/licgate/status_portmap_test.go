package main

import (
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 22 finding 7: `licgate status` (text) shows both router mappings,
// WireGuard's UDP port and the enrolment page's TCP port, each with its
// state; a refused one with the router's answer and the fix. The daemon
// here is a stand-in answering the admin API on the socket with what a
// gateway reports (JSON, as on the wire).
func TestStatusShowsBothMappings(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "licgate.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	health := `{"status":"ok","public_key":"k","listen_port":51820,"address":"10.44.0.1","endpoint":"203.0.113.1:51820","sessions":0,"devices":1,
"portmap":{"state":"mapped","protocol":"upnp","network":"udp","gateway":"192.168.1.1","internal_port":51820,"asked_port":51820,
  "external_address":"100.128.0.1","external_port":51820,"renewals":3,"recreated":0},
"portmap_public":{"state":"refused","network":"tcp","gateway":"192.168.1.1","internal_port":443,"asked_port":443,"renewals":0,"recreated":0,
  "last_error":"portmap: router at 192.168.1.1 refused to forward TCP port 443: upnp: router refused the mapping: upnp AddPortMapping: action not authorized (606)",
  "fix":"listen on an unprivileged port (public.listen: \":8443\")","failures":3,"next_attempt":"2026-12-06T09:00:00Z"}}`
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/health", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, health) })
	mux.HandleFunc("GET /api/v1/services", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "[]") })
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	out, code := cli(t, "status", "-socket="+sock)
	if code != 0 {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"router port mapping, WireGuard (UDP): mapped by upnp: 100.128.0.1:51820 -> UDP 51820",
		"router port mapping, enrolment page (TCP): refused (TCP port 443)",
		"last error: portmap: router at 192.168.1.1 refused to forward TCP port 443",
		"(606)",
		`fix: listen on an unprivileged port (public.listen: ":8443")`,
		"next attempt: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "last error") != 1 {
		t.Errorf("a last error printed for the mapping that works:\n%s", out)
	}
}
