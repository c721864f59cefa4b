//go:build licgate_omit_postgres

package config

import (
	"strings"
	"testing"
)

// The router build refuses store.driver: postgres at load, naming why.
func TestPostgresOmitted(t *testing.T) {
	_, err := Parse("c.yaml", []byte("store:\n  driver: postgres\n  dsn_file: x\n"))
	if err == nil || !strings.Contains(err.Error(), "c.yaml:2: store.driver: this build leaves PostgreSQL out") {
		t.Fatalf("%v", err)
	}
}
