package bolt

import (
	"bytes"
	"context"
	"fmt"
	"github.com/licgate/licgate/store"

	bbolt "go.etcd.io/bbolt"
)

// AddDeviceWithin is AddDevice when the user has fewer than max active
// devices: counted in the same update transaction, and bbolt runs one
// writer at a time, so concurrent calls never exceed max.
func (s *Store) AddDeviceWithin(ctx context.Context, nd store.NewDevice, pool store.Pool, max int) (store.Device, error) {
	if max < 1 {
		return store.Device{}, fmt.Errorf("store: add device %s/%s: %w: limit %d", nd.User, nd.Name, store.ErrInvalid, max)
	}
	var d store.Device
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		prefix := nameKey(nd.User, "")
		n := 0
		c := tx.Bucket(bDevName).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			n++
		}
		if n >= max {
			return fmt.Errorf("user %s has %d active devices, at most %d: %w", nd.User, n, max, store.ErrLimit)
		}
		var err error
		d, err = store.AddDeviceIn(deviceTx{tx}, nd, pool, nil, s.now())
		return err
	})
	if err != nil {
		return store.Device{}, fmt.Errorf("store: add device %s/%s: %w", nd.User, nd.Name, err)
	}
	return d, nil
}
