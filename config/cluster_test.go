//go:build !licgate_omit_postgres

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestClusterConfig(t *testing.T) {
	pg := "store:\n  driver: postgres\n  dsn_file: /etc/licgate/dsn\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"needs postgres", "cluster:\n  enabled: true\n  kek_file: k\n", "c.yaml:2: cluster.enabled: needs store.driver: postgres"},
		{"needs kek", pg + "cluster:\n  enabled: true\n", "c.yaml:4: cluster.kek_file: missing"},
		{"bad lease", pg + "cluster:\n  enabled: true\n  kek_file: k\n  lease: -1s\n", "c.yaml:7: cluster.lease"},
		{"short lease", pg + "cluster:\n  enabled: true\n  kek_file: k\n  lease: 10ms\n", "c.yaml:7: cluster.lease: 10ms is too short"},
		{"bad vip", pg + "cluster:\n  enabled: true\n  kek_file: k\n  vip: office\n", `c.yaml:7: cluster.vip: "office" is not an IP address`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tc.yaml))
			if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant %q", err, tc.want)
			}
		})
	}
	c, err := Parse("/etc/licgate/c.yaml", []byte(pg+"cluster:\n  enabled: true\n  kek_file: kek\n  vip: 192.0.2.10\n"))
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	k := c.Cluster
	if k.GatewayID != host || k.KEKFile != filepath.FromSlash("/etc/licgate/kek") || k.Lease.Duration != 15*time.Second || k.VIPAddr().String() != "192.0.2.10" {
		t.Fatalf("defaults: %+v", k)
	}
	// Off: nothing is checked (sqlite stays fine).
	if _, err := Parse("c.yaml", []byte("cluster:\n  gateway_id: a\n")); err != nil {
		t.Fatal(err)
	}
}
