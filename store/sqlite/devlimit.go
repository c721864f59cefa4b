package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/internal/sqlrow"
)

// AddDeviceWithin is AddDevice when the user has fewer than max active
// devices: the count and the insert are one transaction, and the SQLite
// backend runs one transaction at a time (one connection), so concurrent
// calls never exceed max.
func (s *Store) AddDeviceWithin(ctx context.Context, nd store.NewDevice, pool store.Pool, max int) (store.Device, error) {
	if max < 1 {
		return store.Device{}, fmt.Errorf("store: add device %s/%s: %w: limit %d", nd.User, nd.Name, store.ErrInvalid, max)
	}
	var d store.Device
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		err := tx.QueryRowContext(ctx, sqlrow.CountActive, nd.User).Scan(&n)
		if err != nil {
			return err
		}
		if n >= max {
			return fmt.Errorf("user %s has %d active devices, at most %d: %w", nd.User, n, max, store.ErrLimit)
		}
		d, err = store.AddDeviceIn(deviceTx{ctx, tx}, nd, pool, nil, s.now())
		return err
	})
	if err != nil {
		return store.Device{}, fmt.Errorf("store: add device %s/%s: %w", nd.User, nd.Name, err)
	}
	return d, nil
}
