package sqlite

import (
	"context"
	"fmt"

	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/internal/sqlrow"
)

// AddDeviceWithin is AddDevice when the user has fewer than max active
// devices: the count and the insert are one transaction, and the SQLite
// backend runs one transaction at a time (one connection), so concurrent
// calls never exceed max.
func (s *Store) AddDeviceWithin(ctx context.Context, nd store.NewDevice, pool store.Pool, max int) (store.Device, error) {
	d, err := store.AddDeviceWithinTx(ctx, s.deviceTx, nd, pool, max, s.now())
	return d, prefix(err)
}

// ActiveDevices counts the user's active devices.
func (t deviceTx) ActiveDevices(user string) (int, error) {
	var n int
	err := t.tx.QueryRowContext(t.ctx, sqlrow.CountActive, user).Scan(&n)
	return n, err
}

// prefix names the backend in an error: "store: ...", as every error of
// this package does.
func prefix(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("store: %w", err)
}
