//go:build !licgate_omit_postgres

package postgres

import (
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/internal/sqlrow"
)

// ActiveDevices counts the user's active devices. AddDeviceWithin calls
// it after AddrUse has taken the device lock (the advisory lock every
// gateway's device changes take), so concurrent calls, on one gateway or
// many, never exceed the limit.
func (t deviceTx) ActiveDevices(user string) (int, error) {
	var n int
	err := t.tx.QueryRow(t.ctx, dialect.SQL(sqlrow.CountActive), user).Scan(&n)
	return n, err
}

// PendingDevices lists the pending devices under the device lock, so
// approve, deny, expiry and AddPendingDevice's count of every gateway
// take their turns.
func (t deviceTx) PendingDevices() ([]store.Device, error) {
	if _, err := t.tx.Exec(t.ctx, `SELECT pg_advisory_xact_lock($1)`, lockDevices); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(t.ctx, dialect.SQL(sqlrow.QueryPending))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlrow.Collect(rows, sqlrow.Device)
}

// ApprovePending makes the pending device id active.
func (t deviceTx) ApprovePending(id int64) error {
	_, err := t.tx.Exec(t.ctx, dialect.SQL(sqlrow.ApprovePending), id)
	return err
}

// DeletePending removes the pending device id.
func (t deviceTx) DeletePending(id int64) error {
	_, err := t.tx.Exec(t.ctx, dialect.SQL(sqlrow.DeletePending), id)
	return err
}
