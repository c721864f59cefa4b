// Package open opens the state store a configuration names, so that the
// daemon, the CLI and the tools construct backends in one place:
//
//   - no driver (or "sqlite"): the local backend in the state directory
//     (store/local: SQLite, or bbolt in a licgate_store_bolt build);
//   - driver "postgres": store/postgres with the DSN read from a private
//     file (in a licgate_omit_postgres build, an error naming the tag).
//
// It takes plain Options, not the daemon's config, and sits above the
// backends: no backend imports it.
//
// Typical usage:
//
//	st, err := open.Store(ctx, open.Options{Driver: cfg.Store.Driver, StateDir: cfg.StateDir,
//		DSNFile: cfg.Store.DSNFile, Log: log})
//	if err != nil { ... }
//	defer st.Close()
package open

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/local"
	"github.com/licgate/licgate/store/postgres"
)

// Options says which store to open.
type Options struct {
	// Driver is "" or "sqlite" (the local backend of this build: SQLite,
	// or bbolt with licgate_store_bolt; "bolt" is accepted too), or
	// "postgres".
	Driver string
	// StateDir is the local backend's directory (created 0700 if needed).
	StateDir string
	// DSNFile is the private file holding PostgreSQL's connection string.
	DSNFile string
	// Log gets the backend's messages (schema migrations). If nil, they
	// are discarded.
	Log *slog.Logger
}

// Store opens, and migrates, the store o names.
func Store(ctx context.Context, o Options) (store.Backend, error) {
	switch o.Driver {
	case "", "sqlite", "bolt":
		return local.Open(ctx, o.StateDir)
	case "postgres":
		st, err := Postgres(ctx, o)
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	return nil, fmt.Errorf("store: driver %q: %w: want none or postgres", o.Driver, store.ErrInvalid)
}

// Postgres opens, and migrates, the PostgreSQL store whose DSN o.DSNFile
// holds, as its own type: a cluster's gateways share its pool
// (cluster.Config.Pool) as well as its tables. o.Driver is not read.
func Postgres(ctx context.Context, o Options) (*postgres.Store, error) {
	dsn, err := postgres.ReadDSNFile(o.DSNFile)
	if err != nil {
		return nil, err
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return postgres.Open(ctx, dsn, log.With(slog.String("component", "store")))
}
