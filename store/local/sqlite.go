//go:build !licgate_store_bolt

package local

import (
	"context"

	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/sqlite"
)

// FileName is the local backend's file in the state directory.
const FileName = sqlite.FileName

// Driver names the local backend of this build.
const Driver = "sqlite"

// Open opens the local backend in dir: SQLite in this build.
func Open(ctx context.Context, dir string) (store.Backend, error) {
	return sqlite.Open(ctx, dir)
}
