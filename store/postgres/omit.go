//go:build licgate_omit_postgres

package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/licgate/licgate/store"
)

// ErrOmitted is what Open and ReadDSNFile return in a build with the
// licgate_omit_postgres tag (the router build): the PostgreSQL driver
// (pgx) is not linked in.
var ErrOmitted = errors.New("the PostgreSQL backend is not in this build (built with licgate_omit_postgres, as the router build is): " +
	"keep the state in the state directory (no store.driver), or run a full licgate build")

// Store stands in for the PostgreSQL backend; Open never returns one.
type Store struct{ store.Backend }

// SchemaVersion is the version a fully migrated database has.
func SchemaVersion() int { return store.SchemaVersion() }

// ReadDSNFile fails with ErrOmitted: there is nothing to connect with.
func ReadDSNFile(path string) (string, error) {
	return "", fmt.Errorf("postgres: dsn file %s: %w", path, ErrOmitted)
}

// Open fails with ErrOmitted.
func Open(ctx context.Context, dsn string, log *slog.Logger) (*Store, error) {
	return nil, fmt.Errorf("postgres: open: %w", ErrOmitted)
}
