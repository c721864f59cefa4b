package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/licgate/licgate/internal/confval"
)

// ClusterConfig makes several gateways one: they share the PostgreSQL
// store (store.driver: postgres), one WireGuard identity (kept sealed in
// the database), session caps and changes (docs/ha.md). Off unless
// enabled.
type ClusterConfig struct {
	// Enabled turns cluster mode on. It needs store.driver: postgres.
	Enabled bool `yaml:"enabled"`
	// GatewayID names this gateway in the cluster; unique and stable
	// across restarts. If empty, the host name.
	GatewayID string `yaml:"gateway_id"`
	// KEKFile holds the key-encryption key that seals the shared
	// WireGuard key in the database (32 bytes, base64 or hex; mode 0600;
	// the same file on every gateway), relative to this file. Required.
	// Make one with: head -c 32 /dev/urandom | base64 > kek; chmod 600 kek.
	KEKFile string `yaml:"kek_file"`
	// Lease is how long a session of a gateway that stopped renewing
	// (it died) keeps counting against caps. If empty, 15s.
	Lease confval.Duration `yaml:"lease"`
	// VIP is the virtual IP keepalived moves between gateways
	// (active/standby). If set, the gateway holding it records where
	// devices were seen, and a gateway that takes it over starts the
	// WireGuard handshake with them at once. Empty for active/active.
	VIP string `yaml:"vip"`
}

// VIPAddr is the parsed cluster.vip (invalid when unset).
func (c *ClusterConfig) VIPAddr() netip.Addr {
	a, _ := netip.ParseAddr(c.VIP)
	return a
}

func (c *Config) validateCluster() error {
	k := &c.Cluster
	if !k.Enabled {
		return nil
	}
	if c.Store.Driver != "postgres" {
		return c.at("cluster.enabled", "needs store.driver: postgres (the gateways share one PostgreSQL)")
	}
	if k.GatewayID == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			return c.at("cluster.gateway_id", "missing, and the host name is unknown (%v): set it", err)
		}
		k.GatewayID = h
	}
	if k.KEKFile == "" {
		return c.at("cluster.kek_file", "missing: the key-encryption key file, the same on every gateway (head -c 32 /dev/urandom | base64 > kek; chmod 600 kek)")
	}
	if !filepath.IsAbs(k.KEKFile) {
		k.KEKFile = filepath.Join(filepath.Dir(c.file), k.KEKFile)
	}
	if err := confval.Positive(&k.Lease, 15*time.Second); err != nil {
		return c.at("cluster.lease", "%v", err)
	}
	if k.Lease.Duration < time.Second {
		return c.at("cluster.lease", "%v is too short: at least 1s", k.Lease.Duration)
	}
	if k.VIP != "" {
		if _, err := netip.ParseAddr(k.VIP); err != nil {
			return c.at("cluster.vip", "%q is not an IP address", k.VIP)
		}
	}
	return nil
}
