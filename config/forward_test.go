package config

import (
	"runtime"
	"strings"
	"testing"
)

// TestTunnelForward: tunnel.forward needs tun mode (the error names the
// key and line), and ForwardPorts lists every port of a typed service,
// each to the same number on the upstream host, with the service's source.
func TestTunnelForward(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("forwarding is Linux only (tun mode; source: tunnel needs IP_TRANSPARENT)")
	}
	for _, mode := range []string{"netstack", "kernel\n  interface: wg0"} {
		_, err := Parse("licgate.yaml", []byte("state_dir: "+t.TempDir()+"\ntunnel:\n  mode: "+mode+"\n  forward: true\n"))
		if err == nil || !strings.Contains(err.Error(), "tunnel.forward") || !strings.Contains(err.Error(), "licgate.yaml:") {
			t.Errorf("forward with mode %s: %v", mode, err)
		}
	}
	cfg, err := Parse("licgate.yaml", []byte("state_dir: "+t.TempDir()+`
tunnel: {mode: tun, forward: true}
services:
  - {name: codemeter, port: 22350, upstream: "192.168.1.10:22350"}
  - {name: flex, type: flexnet, port: 27000, upstream: "192.168.1.11:27000", daemons: [{name: adskflex, port: 27001}], source: tunnel}
policy:
  rules:
    - {action: allow, who: ["*"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]string{}
	for _, p := range cfg.ForwardPorts() {
		got[p.Port] = p.Service + " " + p.Upstream + " " + strings.Join(p.Protocols, ",")
		if p.SourceTunnel != (p.Service == "flex") {
			t.Errorf("port %d: SourceTunnel %v", p.Port, p.SourceTunnel)
		}
	}
	want := map[int]string{22350: "codemeter 192.168.1.10:22350 tcp,udp", 27000: "flex 192.168.1.11:27000 tcp", 27001: "flex 192.168.1.11:27001 tcp"}
	for port, w := range want {
		if got[port] != w {
			t.Errorf("port %d: %q, want %q (all: %v)", port, got[port], w, got)
		}
	}
}
