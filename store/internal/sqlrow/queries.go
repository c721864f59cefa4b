package sqlrow

import (
	"fmt"
	"time"

	"github.com/licgate/licgate/store"
)

// The shared statements, in Dialect.SQL's notation.
const (
	QueryUser       = `SELECT ` + UserCols + ` FROM users WHERE name = ?`
	QueryUsers      = `SELECT ` + UserCols + ` FROM users ORDER BY name{C}`
	QueryUserID     = `SELECT id FROM users WHERE name = ?`
	QueryDevices    = `SELECT ` + DeviceCols + DeviceFrom + ` WHERE d.pending_until IS NULL ORDER BY u.name{C}, d.name{C}, d.id`
	QueryDevicesAct = `SELECT ` + DeviceCols + DeviceFrom + ` WHERE d.revoked_at IS NULL AND d.pending_until IS NULL ORDER BY u.name{C}, d.name{C}, d.id`
	QueryDevice     = `SELECT ` + DeviceCols + DeviceFrom + ` WHERE u.name = ? AND d.name = ? AND d.revoked_at IS NULL AND d.pending_until IS NULL`
	QueryPending    = `SELECT ` + DeviceCols + DeviceFrom + ` WHERE d.revoked_at IS NULL AND d.pending_until IS NOT NULL ORDER BY u.name{C}, d.name{C}, d.id`
	ApprovePending  = `UPDATE devices SET pending_until = NULL WHERE id = ? AND pending_until IS NOT NULL`
	DeletePending   = `DELETE FROM devices WHERE id = ? AND pending_until IS NOT NULL`
	// QueryAddrUse takes QuarantineSince in milliseconds (AddrUse).
	QueryAddrUse   = `SELECT address, revoked_at FROM devices WHERE revoked_at IS NULL OR revoked_at >= ?`
	InsertDevice   = `INSERT INTO devices(user_id, name, public_key, address, created_at, pending_until) VALUES (?, ?, ?, ?, ?, ?)`
	RevokeDevice   = `UPDATE devices SET revoked_at = ? WHERE id = ?`
	RekeyDevice    = `UPDATE devices SET public_key = ? WHERE id = ?`
	SetUserOff     = `UPDATE users SET disabled = ? WHERE name = ?`
	SetUserExpiry  = `UPDATE users SET expires_at = ? WHERE name = ?`
	SetDeviceExpry = `UPDATE devices SET expires_at = ? WHERE revoked_at IS NULL AND pending_until IS NULL AND name = ?
		AND user_id = (SELECT id FROM users WHERE name = ?)`

	// QuerySessions takes to, from (microseconds).
	QuerySessions = `SELECT ` + SessionCols + ` FROM audit_sessions
		WHERE start_at < ? AND (end_at IS NULL OR end_at >= ?) ORDER BY start_at, id`
	// QueryDenials and QueryEvents take from, to (microseconds), limit.
	QueryDenials = `SELECT ` + DenialCols + ` FROM audit_denials WHERE at >= ? AND at < ? ORDER BY at DESC, id DESC LIMIT ?`
	QueryEvents  = `SELECT ` + EventCols + ` FROM audit_events WHERE at >= ? AND at < ? ORDER BY at DESC, id DESC LIMIT ?`

	QueryDDNSAddr = `SELECT addr FROM ddns_state WHERE provider = ? AND family = ?`
	SetDDNSAddr   = `INSERT INTO ddns_state(provider, family, addr, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT(provider, family) DO UPDATE SET addr = excluded.addr, updated_at = excluded.updated_at`
	QueryHold = `SELECT ` + HoldCols + ` FROM ddns_holds WHERE provider = ?`
	SetHold   = `INSERT INTO ddns_holds(provider, fatal, reason, fingerprint, backoff_until, updated_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT(provider) DO UPDATE SET fatal = excluded.fatal, reason = excluded.reason, fingerprint = excluded.fingerprint,
		backoff_until = excluded.backoff_until, updated_at = excluded.updated_at`
	ClearHold = `DELETE FROM ddns_holds WHERE provider = ?`

	// CountState counts the rows that make a database not empty for Import.
	CountState = `SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM enrollments)
		+ (SELECT count(*) FROM audit_sessions) + (SELECT count(*) FROM audit_denials) + (SELECT count(*) FROM audit_events)`
)

// PruneAudit are the statements of PruneAudit, each taking the cut-off
// in microseconds.
var PruneAudit = []string{
	`DELETE FROM audit_sessions WHERE end_at IS NOT NULL AND end_at < ?`,
	`DELETE FROM audit_denials WHERE at < ?`,
	`DELETE FROM audit_events WHERE at < ?`,
}

// Audit is the statement and arguments that write r; ErrInvalid for an
// unknown Kind. An AuditEnd updates its session's start row.
func Audit(r store.AuditRecord) (string, []any, error) {
	switch r.Kind {
	case store.AuditStart:
		return `INSERT INTO audit_sessions(key, start_at, "user", device, service, proto, client, rule, reason)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			[]any{r.Key, r.At.UnixMicro(), r.User, r.Device, r.Service, r.Proto, r.Client, r.Rule, r.Reason}, nil
	case store.AuditEnd:
		return `UPDATE audit_sessions SET end_at = ?, bytes_up = ?, bytes_down = ?, end_reason = ? WHERE key = ?`,
			[]any{r.At.UnixMicro(), r.BytesUp, r.BytesDown, r.EndReason, r.Key}, nil
	case store.AuditDenial:
		return `INSERT INTO audit_denials(at, "user", device, service, proto, source, rule, reason)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			[]any{r.At.UnixMicro(), r.User, r.Device, r.Service, r.Proto, r.Client, r.Rule, r.Reason}, nil
	case store.AuditEvent:
		return `INSERT INTO audit_events(at, actor, action, detail) VALUES (?, ?, ?, ?)`,
			[]any{r.At.UnixMicro(), r.Actor, r.Action, r.Reason}, nil
	}
	return "", nil, fmt.Errorf("%w: audit kind %d", store.ErrInvalid, r.Kind)
}

// HoldArgs are SetHold's arguments.
func HoldArgs(provider string, h store.DDNSHold, updatedMs int64) []any {
	var until any
	if !h.BackoffUntil.IsZero() {
		until = h.BackoffUntil.UnixMilli()
	}
	return []any{provider, h.Fatal, h.Reason, h.Fingerprint, until, updatedMs}
}

// CountActive counts a user's active devices (AddDeviceWithin).
const CountActive = `SELECT count(*) FROM devices JOIN users ON users.id = devices.user_id
	WHERE users.name = ? AND devices.revoked_at IS NULL`

// Enrolment links.
const (
	InsertLink = `INSERT INTO enrollments(token_hash, "user", device, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`
	QueryLink  = `SELECT "user", device, expires_at, used_at FROM enrollments WHERE token_hash = ?`
	// ClaimLink takes used_at, used_from, token_hash.
	ClaimLink = `UPDATE enrollments SET used_at = ?, used_from = ? WHERE token_hash = ? AND used_at IS NULL`
)

// Link scans QueryLink's row and says why the link cannot be used at
// now: ErrUsed, ErrExpired. A scan error is returned as it is (no row:
// the driver's own error).
func Link(sc Scanner, now time.Time) (store.Enrollment, error) {
	var e store.Enrollment
	var expires int64
	var used *int64
	if err := sc.Scan(&e.User, &e.Device, &expires, &used); err != nil {
		return store.Enrollment{}, err
	}
	e.Expires = time.UnixMilli(expires)
	switch {
	case used != nil:
		return store.Enrollment{}, store.ErrUsed
	case !now.Before(e.Expires):
		return store.Enrollment{}, store.ErrExpired
	}
	return e, nil
}
