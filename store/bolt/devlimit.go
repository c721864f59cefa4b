//go:build licgate_store_bolt

package store

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// AddDeviceWithin is AddDevice when the user has fewer than max active
// devices: counted in the same update transaction, and bbolt runs one
// writer at a time, so concurrent calls never exceed max.
func (s *Store) AddDeviceWithin(ctx context.Context, nd NewDevice, pool Pool, max int) (Device, error) {
	if max < 1 {
		return Device{}, fmt.Errorf("store: add device %s/%s: %w: limit %d", nd.User, nd.Name, ErrInvalid, max)
	}
	var d Device
	err := s.update(ctx, func(tx *bolt.Tx) error {
		prefix := nameKey(nd.User, "")
		n := 0
		c := tx.Bucket(bDevName).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			n++
		}
		if n >= max {
			return fmt.Errorf("user %s has %d active devices, at most %d: %w", nd.User, n, max, ErrLimit)
		}
		var err error
		d, err = s.addDevice(tx, nd, pool, nil)
		return err
	})
	if err != nil {
		return Device{}, fmt.Errorf("store: add device %s/%s: %w", nd.User, nd.Name, err)
	}
	return d, nil
}
