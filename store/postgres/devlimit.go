//go:build !licgate_omit_postgres

package postgres

import (
	"context"
	"fmt"

	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/internal/sqlrow"
)

// AddDeviceWithin is AddDevice when the user has fewer than max active
// devices. The transaction takes the device lock (the advisory lock every
// gateway's device changes take, in AddrUse) before it counts, so
// concurrent calls, on one gateway or many, never exceed max.
func (s *Store) AddDeviceWithin(ctx context.Context, nd store.NewDevice, pool store.Pool, max int) (store.Device, error) {
	d, err := store.AddDeviceWithinTx(ctx, s.deviceTx, nd, pool, max, s.now())
	return d, prefix(err)
}

// ActiveDevices counts the user's active devices.
func (t deviceTx) ActiveDevices(user string) (int, error) {
	var n int
	err := t.tx.QueryRow(t.ctx, dialect.SQL(sqlrow.CountActive), user).Scan(&n)
	return n, err
}

// prefix names the backend in an error: "postgres: ...".
func prefix(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("postgres: %w", err)
}
