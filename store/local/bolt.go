//go:build licgate_store_bolt

package local

import (
	"context"

	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/bolt"
)

// FileName is the local backend's file in the state directory.
const FileName = bolt.FileName

// Driver names the local backend of this build.
const Driver = "bolt"

// Open opens the local backend in dir: bbolt in this build
// (licgate_store_bolt), which links no SQL engine.
func Open(ctx context.Context, dir string) (store.Backend, error) {
	return bolt.Open(ctx, dir)
}
