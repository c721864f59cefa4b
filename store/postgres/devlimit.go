//go:build !licgate_omit_postgres

package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/internal/sqlrow"
)

// AddDeviceWithin is AddDevice when the user has fewer than max active
// devices. The transaction takes the device lock (the advisory lock every
// gateway's device changes take) before it counts, so concurrent calls, on
// one gateway or many, never exceed max.
func (s *Store) AddDeviceWithin(ctx context.Context, nd store.NewDevice, pool store.Pool, max int) (store.Device, error) {
	if max < 1 {
		return store.Device{}, fmt.Errorf("postgres: add device %s/%s: %w: limit %d", nd.User, nd.Name, store.ErrInvalid, max)
	}
	var d store.Device
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockDevices); err != nil {
			return err
		}
		var n int
		err := tx.QueryRow(ctx, dialect.SQL(sqlrow.CountActive), nd.User).Scan(&n)
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
		return store.Device{}, fmt.Errorf("postgres: add device %s/%s: %w", nd.User, nd.Name, err)
	}
	return d, nil
}
