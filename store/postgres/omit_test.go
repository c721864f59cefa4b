//go:build licgate_omit_postgres

package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/licgate/licgate/store/postgres"
)

// TestOmitted: configured anyway, the omitted backend fails naming the tag.
func TestOmitted(t *testing.T) {
	if _, err := postgres.ReadDSNFile("/etc/licgate/postgres.dsn"); !errors.Is(err, postgres.ErrOmitted) {
		t.Errorf("ReadDSNFile: %v", err)
	}
	st, err := postgres.Open(context.Background(), "postgres://x", nil)
	if st != nil || !errors.Is(err, postgres.ErrOmitted) || !strings.Contains(err.Error(), "licgate_omit_postgres") {
		t.Errorf("Open: %v %v", st, err)
	}
}
