package bolt

import "bytes"

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
