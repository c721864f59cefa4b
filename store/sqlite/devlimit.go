package sqlite

import (
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/internal/sqlrow"
)

// ActiveDevices counts the user's active devices (AddDeviceWithin: the
// count and the insert are one transaction, and SQLite runs one
// transaction at a time on its one connection, so concurrent calls never
// exceed the limit).
func (t deviceTx) ActiveDevices(user string) (int, error) {
	var n int
	err := t.tx.QueryRowContext(t.ctx, sqlrow.CountActive, user).Scan(&n)
	return n, err
}

// PendingDevices lists the pending devices.
func (t deviceTx) PendingDevices() ([]store.Device, error) {
	rows, err := t.tx.QueryContext(t.ctx, dialect.SQL(sqlrow.QueryPending))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlrow.Collect(rows, sqlrow.Device)
}

// ApprovePending makes the pending device id active.
func (t deviceTx) ApprovePending(id int64) error {
	_, err := t.tx.ExecContext(t.ctx, sqlrow.ApprovePending, id)
	return err
}

// DeletePending removes the pending device id.
func (t deviceTx) DeletePending(id int64) error {
	_, err := t.tx.ExecContext(t.ctx, sqlrow.DeletePending, id)
	return err
}
