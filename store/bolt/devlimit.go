package bolt

import (
	"bytes"
	"encoding/binary"
	"sort"

	"github.com/licgate/licgate/store"
)

// ActiveDevices counts the user's entries in the active-name index
// (AddDeviceWithin counts in the same update transaction, and bbolt runs
// one writer at a time, so concurrent calls never exceed the limit).
func (t deviceTx) ActiveDevices(user string) (int, error) {
	p := nameKey(user, "")
	n := 0
	c := t.tx.Bucket(bDevName).Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		n++
	}
	return n, nil
}

// PendingDevices lists the pending devices (every device row: requests
// are few and bounded).
func (t deviceTx) PendingDevices() ([]store.Device, error) {
	ds := []store.Device{}
	err := t.tx.Bucket(bDevices).ForEach(func(k, v []byte) error {
		var r deviceRec
		if err := decode(v, &r); err != nil {
			return err
		}
		if r.Pending != nil && r.Revoked == nil {
			ds = append(ds, r.device(binary.BigEndian.Uint64(k)))
		}
		return nil
	})
	sort.SliceStable(ds, func(i, j int) bool {
		if ds[i].User != ds[j].User {
			return ds[i].User < ds[j].User
		}
		return ds[i].Name < ds[j].Name
	})
	return ds, err
}

// pendingRow reads the pending device row id; ErrNotFound if it is not one.
func (t deviceTx) pendingRow(id int64) (deviceRec, error) {
	r, ok, err := get[deviceRec](t.tx.Bucket(bDevices), u64(uint64(id)))
	if err == nil && (!ok || r.Pending == nil || r.Revoked != nil) {
		err = store.ErrNotFound
	}
	return r, err
}

// ApprovePending makes the pending device id active (its indexes are
// there already).
func (t deviceTx) ApprovePending(id int64) error {
	r, err := t.pendingRow(id)
	if err != nil {
		return err
	}
	r.Pending = nil
	return put(t.tx.Bucket(bDevices), u64(uint64(id)), r)
}

// DeletePending removes the pending device id and its indexes.
func (t deviceTx) DeletePending(id int64) error {
	r, err := t.pendingRow(id)
	if err != nil {
		return err
	}
	if err := dropIndexes(t.tx, r); err != nil {
		return err
	}
	return t.tx.Bucket(bDevices).Delete(u64(uint64(id)))
}
