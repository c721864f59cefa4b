package config

import (
	"testing"
	"time"
)

// TestAddressQuarantine: tunnel.address_quarantine defaults to 30 days; 0
// turns it off.
func TestAddressQuarantine(t *testing.T) {
	for _, c := range []struct {
		yaml string
		want time.Duration
	}{
		{"tunnel: {}\n", 720 * time.Hour},
		{"tunnel: {address_quarantine: 0}\n", 0},
		{"tunnel: {address_quarantine: 7d}\n", 7 * 24 * time.Hour},
	} {
		cfg, err := Parse("licgate.yaml", []byte("state_dir: "+t.TempDir()+"\n"+c.yaml))
		if err != nil {
			t.Fatalf("%q: %v", c.yaml, err)
		}
		if got := cfg.Tunnel.AddressQuarantine.Duration; got != c.want {
			t.Errorf("%q: %v, want %v", c.yaml, got, c.want)
		}
	}
	if _, err := Parse("licgate.yaml", []byte("tunnel: {address_quarantine: -1h}\n")); err == nil {
		t.Error("a negative quarantine was accepted")
	}
}
