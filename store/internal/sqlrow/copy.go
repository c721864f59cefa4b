package sqlrow

import (
	"github.com/licgate/licgate/store"
)

// Query runs a statement of no arguments inside the export's read
// transaction; done closes its rows.
type Query func(query string) (rows Rows, done func(), err error)

// each runs query and scans every row.
func each[T any](q Query, scan func(Scanner) (T, error), query string) ([]T, error) {
	rows, done, err := q(query)
	if err != nil {
		return nil, err
	}
	defer done()
	return Collect(rows, scan)
}

// Export reads every row through q (one read transaction of the
// backend), in id order, names in byte order.
func Export(q Query, d Dialect) (*store.Snapshot, error) {
	snap := &store.Snapshot{Counters: map[string]int64{}}
	var err error
	if snap.Users, err = each(q, User, `SELECT `+UserCols+` FROM users ORDER BY id`); err != nil {
		return nil, err
	}
	if snap.Devices, err = each(q, Device, `SELECT `+DeviceCols+DeviceFrom+` ORDER BY d.id`); err != nil {
		return nil, err
	}
	if snap.Enrollments, err = each(q, EnrollmentRecord, `SELECT `+EnrollmentCols+` FROM enrollments ORDER BY id`); err != nil {
		return nil, err
	}
	if snap.Sessions, err = each(q, Session, `SELECT `+SessionCols+` FROM audit_sessions ORDER BY id`); err != nil {
		return nil, err
	}
	if snap.Denials, err = each(q, Denial, `SELECT `+DenialCols+` FROM audit_denials ORDER BY id`); err != nil {
		return nil, err
	}
	if snap.Events, err = each(q, Event, `SELECT `+EventCols+` FROM audit_events ORDER BY id`); err != nil {
		return nil, err
	}
	if snap.DDNS, err = each(q, DDNSState, d.SQL(`SELECT `+DDNSStateCols+` FROM ddns_state ORDER BY provider{C}, family{C}`)); err != nil {
		return nil, err
	}
	if snap.Holds, err = each(q, ProviderHold, d.SQL(`SELECT provider, `+HoldCols+` FROM ddns_holds ORDER BY provider{C}`)); err != nil {
		return nil, err
	}
	type kv struct {
		k string
		v int64
	}
	cs, err := each(q, func(sc Scanner) (kv, error) {
		var c kv
		return c, sc.Scan(&c.k, &c.v)
	}, `SELECT name, value FROM counters`)
	for _, c := range cs {
		snap.Counters[c.k] = c.v
	}
	return snap, err
}

// Table is rows for one table of an Import.
type Table struct {
	Name string
	Cols []string
	Rows [][]any
}

// Tables are the rows of snap for an empty database, keeping user and
// device IDs: users, devices, enrolments and the audit log (DDNS state,
// holds and counters are upserts, written by each backend).
func Tables(snap *store.Snapshot) []Table {
	uid := map[string]int64{}
	users := Table{Name: "users", Cols: []string{"id", "name", "email", "disabled", "created_at", "expires_at"}}
	for _, u := range snap.Users {
		uid[u.Name] = u.ID
		users.Rows = append(users.Rows, []any{u.ID, u.Name, u.Email, u.Disabled, u.Created.UnixMilli(), MsOrNull(u.Expires)})
	}
	devices := Table{Name: "devices", Cols: []string{"id", "user_id", "name", "public_key", "address", "created_at", "revoked_at", "expires_at", "pending_until"}}
	for _, d := range snap.Devices {
		devices.Rows = append(devices.Rows, []any{d.ID, uid[d.User], d.Name, d.PublicKey, d.Address.String(), d.Created.UnixMilli(), MsOrNull(d.Revoked), MsOrNull(d.Expires), MsOrNull(d.Pending)})
	}
	enrol := Table{Name: "enrollments", Cols: []string{"token_hash", "user", "device", "created_at", "expires_at", "used_at", "used_from"}}
	for _, e := range snap.Enrollments {
		var from any
		if e.Used != nil {
			from = e.UsedFrom
		}
		enrol.Rows = append(enrol.Rows, []any{e.TokenHash, e.User, e.Device, e.Created.UnixMilli(), e.Expires.UnixMilli(), MsOrNull(e.Used), from})
	}
	sessions := Table{Name: "audit_sessions", Cols: []string{"key", "start_at", "end_at", "user", "device", "service", "proto", "client", "rule", "reason", "bytes_up", "bytes_down", "end_reason"}}
	for _, a := range snap.Sessions {
		var endReason any
		if a.End != nil || a.EndReason != "" {
			endReason = a.EndReason
		}
		sessions.Rows = append(sessions.Rows, []any{a.Key, a.Start.UnixMicro(), UsOrNull(a.End), a.User, a.Device, a.Service, a.Proto, a.Client, a.Rule, a.Reason, a.BytesUp, a.BytesDown, endReason})
	}
	denials := Table{Name: "audit_denials", Cols: []string{"at", "user", "device", "service", "proto", "source", "rule", "reason"}}
	for _, d := range snap.Denials {
		denials.Rows = append(denials.Rows, []any{d.At.UnixMicro(), d.User, d.Device, d.Service, d.Proto, d.Source, d.Rule, d.Reason})
	}
	events := Table{Name: "audit_events", Cols: []string{"at", "actor", "action", "detail"}}
	for _, e := range snap.Events {
		events.Rows = append(events.Rows, []any{e.At.UnixMicro(), e.Actor, e.Action, e.Detail})
	}
	return []Table{users, devices, enrol, sessions, denials, events}
}

// Upsert writes snap's DDNS state, holds and counters with exec
// (counters only grow: the session epoch stays ahead of every epoch
// either database handed out).
func Upsert(snap *store.Snapshot, exec func(q string, args ...any) error) error {
	stmts, args := upserts(snap)
	for i, q := range stmts {
		if err := exec(q, args[i]...); err != nil {
			return err
		}
	}
	return nil
}

func upserts(snap *store.Snapshot) (stmts []string, args [][]any) {
	for _, d := range snap.DDNS {
		stmts, args = append(stmts, SetDDNSAddr), append(args, []any{d.Provider, d.Family, d.Addr.String(), d.Updated.UnixMilli()})
	}
	for _, h := range snap.Holds {
		stmts, args = append(stmts, SetHold), append(args, HoldArgs(h.Provider, h.DDNSHold, h.Updated.UnixMilli()))
	}
	for k, v := range snap.Counters {
		stmts, args = append(stmts, `INSERT INTO counters(name, value) VALUES (?, ?)
			ON CONFLICT(name) DO UPDATE SET value = CASE WHEN counters.value > excluded.value THEN counters.value ELSE excluded.value END`), append(args, []any{k, v})
	}
	return stmts, args
}
