package bolt

import (
	"bytes"
	"context"
	"fmt"

	"github.com/licgate/licgate/store"
)

// AddDeviceWithin is AddDevice when the user has fewer than max active
// devices: counted in the same update transaction, and bbolt runs one
// writer at a time, so concurrent calls never exceed max.
func (s *Store) AddDeviceWithin(ctx context.Context, nd store.NewDevice, pool store.Pool, max int) (store.Device, error) {
	d, err := store.AddDeviceWithinTx(ctx, s.deviceTx, nd, pool, max, s.now())
	return d, prefix(err)
}

// ActiveDevices counts the user's entries in the active-name index.
func (t deviceTx) ActiveDevices(user string) (int, error) {
	p := nameKey(user, "")
	n := 0
	c := t.tx.Bucket(bDevName).Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		n++
	}
	return n, nil
}

// prefix names the backend in an error: "store: ...", as every error of
// this package does.
func prefix(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("store: %w", err)
}
