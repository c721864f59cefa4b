package config

import (
	"slices"
	"testing"
	"time"
)

// A reload takes what applies at once and keeps, naming them, the
// settings only a restart can change.
func TestMergeReload(t *testing.T) {
	old, err := Parse("c.yaml", []byte("log_level: info\nenforcement:\n  interval: 15s\ntunnel:\n  endpoint: a.example.test\n  mtu: 1420\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse("c.yaml", []byte("log_level: debug\nenforcement:\n  interval: 30s\ntunnel:\n  endpoint: b.example.test\n  mtu: 1380\n"))
	if err != nil {
		t.Fatal(err)
	}
	next, restart := MergeReload(old, cfg)
	if next.LogLevel != "info" || next.Tunnel.MTU != 1420 {
		t.Errorf("log_level %q, mtu %d: want the running info and 1420", next.LogLevel, next.Tunnel.MTU)
	}
	if next.Enforcement.Interval.Duration != 30*time.Second || next.Tunnel.Endpoint != "b.example.test" {
		t.Errorf("interval %s, endpoint %q: want the new 30s and b.example.test", next.Enforcement.Interval.Duration, next.Tunnel.Endpoint)
	}
	want := []string{"log_level", "tunnel (mode, port, subnet, address, mtu, interface, key, ack_delay)"}
	if !slices.Equal(restart, want) {
		t.Errorf("restart %q, want %q", restart, want)
	}
	if cfg.LogLevel != "debug" {
		t.Errorf("the parsed config changed: log_level %q", cfg.LogLevel)
	}
}
