//go:build !licgate_omit_postgres

package postgres

import "github.com/licgate/licgate/store/internal/sqlrow"

// ActiveDevices counts the user's active devices. AddDeviceWithin calls
// it after AddrUse has taken the device lock (the advisory lock every
// gateway's device changes take), so concurrent calls, on one gateway or
// many, never exceed the limit.
func (t deviceTx) ActiveDevices(user string) (int, error) {
	var n int
	err := t.tx.QueryRow(t.ctx, dialect.SQL(sqlrow.CountActive), user).Scan(&n)
	return n, err
}
