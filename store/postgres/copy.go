//go:build !licgate_omit_postgres

package postgres

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/licgate/licgate/store"
)

var (
	_ store.Exporter = (*Store)(nil)
	_ store.Importer = (*Store)(nil)
)

func collect[T any](ctx context.Context, tx pgx.Tx, scan func(scanner) (T, error), query string) ([]T, error) {
	rows, err := tx.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Export reads every row in one repeatable-read transaction (a
// consistent snapshot while gateways keep writing).
func (s *Store) Export(ctx context.Context) (*store.Snapshot, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("postgres: export: %w", store.ErrClosed)
	}
	snap := &store.Snapshot{Counters: map[string]int64{}}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if snap.Users, err = collect(ctx, tx, scanUser, `SELECT `+userCols+` FROM users ORDER BY id`); err != nil {
			return err
		}
		if snap.Devices, err = collect(ctx, tx, scanDevice, `SELECT `+deviceCols+` FROM devices d JOIN users u ON u.id = d.user_id ORDER BY d.id`); err != nil {
			return err
		}
		if snap.Enrollments, err = collect(ctx, tx, func(sc scanner) (store.EnrollmentRecord, error) {
			var e store.EnrollmentRecord
			var created, expires int64
			var used *int64
			err := sc.Scan(&e.TokenHash, &e.User, &e.Device, &created, &expires, &used, &e.UsedFrom)
			e.Created, e.Expires, e.Used = time.UnixMilli(created), time.UnixMilli(expires), msTime(used)
			return e, err
		}, `SELECT token_hash, "user", device, created_at, expires_at, used_at, COALESCE(used_from, '') FROM enrollments ORDER BY id`); err != nil {
			return err
		}
		if snap.Sessions, err = collect(ctx, tx, scanSession, `SELECT key, start_at, end_at, "user", device, service, proto, client, rule, reason,
			bytes_up, bytes_down, COALESCE(end_reason, '') FROM audit_sessions ORDER BY id`); err != nil {
			return err
		}
		if snap.Denials, err = collect(ctx, tx, scanDenial, `SELECT at, "user", device, service, proto, source, rule, reason FROM audit_denials ORDER BY id`); err != nil {
			return err
		}
		if snap.Events, err = collect(ctx, tx, scanEvent, `SELECT at, actor, action, detail FROM audit_events ORDER BY id`); err != nil {
			return err
		}
		if snap.DDNS, err = collect(ctx, tx, func(sc scanner) (store.DDNSState, error) {
			var d store.DDNSState
			var addr string
			var updated int64
			err := sc.Scan(&d.Provider, &d.Family, &addr, &updated)
			d.Addr, _ = netip.ParseAddr(addr)
			d.Updated = time.UnixMilli(updated)
			return d, err
		}, `SELECT provider, family, addr, updated_at FROM ddns_state ORDER BY provider COLLATE "C", family COLLATE "C"`); err != nil {
			return err
		}
		if snap.Holds, err = collect(ctx, tx, func(sc scanner) (store.ProviderHold, error) {
			var p store.ProviderHold
			var until *int64
			var updated int64
			err := sc.Scan(&p.Provider, &p.Fatal, &p.Reason, &p.Fingerprint, &until, &updated)
			if until != nil {
				p.BackoffUntil = time.UnixMilli(*until)
			}
			p.Updated = time.UnixMilli(updated)
			return p, err
		}, `SELECT provider, fatal, reason, fingerprint, backoff_until, updated_at FROM ddns_holds ORDER BY provider COLLATE "C"`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT name, value FROM counters`)
		if err != nil {
			return err
		}
		var k string
		var v int64
		_, err = pgx.ForEachRow(rows, []any{&k, &v}, func() error { snap.Counters[k] = v; return nil })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: export: %w", mapErr(err))
	}
	return snap, nil
}

// Import writes snap into an empty database in one transaction, keeping
// user and device IDs (the sequences continue after them). A database
// that already holds users, links or audit records is refused.
func (s *Store) Import(ctx context.Context, snap *store.Snapshot) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockDevices); err != nil {
			return err
		}
		var n int64
		if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM enrollments)
			+ (SELECT count(*) FROM audit_sessions) + (SELECT count(*) FROM audit_denials) + (SELECT count(*) FROM audit_events)`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %w", store.ErrExists, store.ErrNotEmpty)
		}
		uid := map[string]int64{}
		var rows [][]any
		for _, u := range snap.Users {
			uid[u.Name] = u.ID
			rows = append(rows, []any{u.ID, u.Name, u.Email, u.Disabled, u.Created.UnixMilli(), msOrNull(u.Expires)})
		}
		if err := copyRows(ctx, tx, "users", []string{"id", "name", "email", "disabled", "created_at", "expires_at"}, rows); err != nil {
			return err
		}
		rows = nil
		for _, d := range snap.Devices {
			rows = append(rows, []any{d.ID, uid[d.User], d.Name, d.PublicKey, d.Address.String(), d.Created.UnixMilli(), msOrNull(d.Revoked), msOrNull(d.Expires)})
		}
		if err := copyRows(ctx, tx, "devices", []string{"id", "user_id", "name", "public_key", "address", "created_at", "revoked_at", "expires_at"}, rows); err != nil {
			return err
		}
		rows = nil
		for _, e := range snap.Enrollments {
			var from any
			if e.Used != nil {
				from = e.UsedFrom
			}
			rows = append(rows, []any{e.TokenHash, e.User, e.Device, e.Created.UnixMilli(), e.Expires.UnixMilli(), msOrNull(e.Used), from})
		}
		if err := copyRows(ctx, tx, "enrollments", []string{"token_hash", "user", "device", "created_at", "expires_at", "used_at", "used_from"}, rows); err != nil {
			return err
		}
		rows = nil
		for _, a := range snap.Sessions {
			var end, endReason any
			if a.End != nil {
				end = a.End.UnixMicro()
			}
			if a.End != nil || a.EndReason != "" {
				endReason = a.EndReason
			}
			rows = append(rows, []any{a.Key, a.Start.UnixMicro(), end, a.User, a.Device, a.Service, a.Proto, a.Client, a.Rule, a.Reason, a.BytesUp, a.BytesDown, endReason})
		}
		if err := copyRows(ctx, tx, "audit_sessions", []string{"key", "start_at", "end_at", "user", "device", "service", "proto", "client", "rule", "reason", "bytes_up", "bytes_down", "end_reason"}, rows); err != nil {
			return err
		}
		rows = nil
		for _, d := range snap.Denials {
			rows = append(rows, []any{d.At.UnixMicro(), d.User, d.Device, d.Service, d.Proto, d.Source, d.Rule, d.Reason})
		}
		if err := copyRows(ctx, tx, "audit_denials", []string{"at", "user", "device", "service", "proto", "source", "rule", "reason"}, rows); err != nil {
			return err
		}
		rows = nil
		for _, e := range snap.Events {
			rows = append(rows, []any{e.At.UnixMicro(), e.Actor, e.Action, e.Detail})
		}
		if err := copyRows(ctx, tx, "audit_events", []string{"at", "actor", "action", "detail"}, rows); err != nil {
			return err
		}
		for _, d := range snap.DDNS {
			if _, err := tx.Exec(ctx, `INSERT INTO ddns_state(provider, family, addr, updated_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT(provider, family) DO UPDATE SET addr = excluded.addr, updated_at = excluded.updated_at`,
				d.Provider, d.Family, d.Addr.String(), d.Updated.UnixMilli()); err != nil {
				return err
			}
		}
		for _, h := range snap.Holds {
			var until any
			if !h.BackoffUntil.IsZero() {
				until = h.BackoffUntil.UnixMilli()
			}
			if _, err := tx.Exec(ctx, `INSERT INTO ddns_holds(provider, fatal, reason, fingerprint, backoff_until, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT(provider) DO UPDATE SET fatal = excluded.fatal, reason = excluded.reason, fingerprint = excluded.fingerprint,
				backoff_until = excluded.backoff_until, updated_at = excluded.updated_at`,
				h.Provider, h.Fatal, h.Reason, h.Fingerprint, until, h.Updated.UnixMilli()); err != nil {
				return err
			}
		}
		for k, v := range snap.Counters {
			// Counters only grow: the session epoch must stay ahead of
			// every epoch either database handed out.
			if _, err := tx.Exec(ctx, `INSERT INTO counters(name, value) VALUES ($1, $2)
				ON CONFLICT(name) DO UPDATE SET value = GREATEST(counters.value, excluded.value)`, k, v); err != nil {
				return err
			}
		}
		// Sequences continue after the copied IDs.
		_, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('users', 'id'), COALESCE((SELECT max(id) FROM users), 0) + 1, false),
			setval(pg_get_serial_sequence('devices', 'id'), COALESCE((SELECT max(id) FROM devices), 0) + 1, false)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: import: %w", err)
	}
	return nil
}

// copyRows bulk-loads rows with COPY (fast for large audit logs).
func copyRows(ctx context.Context, tx pgx.Tx, table string, cols []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("copy %s: %w", table, err)
	}
	return nil
}
