package sqlite

import "github.com/licgate/licgate/store/internal/sqlrow"

// ActiveDevices counts the user's active devices (AddDeviceWithin: the
// count and the insert are one transaction, and SQLite runs one
// transaction at a time on its one connection, so concurrent calls never
// exceed the limit).
func (t deviceTx) ActiveDevices(user string) (int, error) {
	var n int
	err := t.tx.QueryRowContext(t.ctx, sqlrow.CountActive, user).Scan(&n)
	return n, err
}
