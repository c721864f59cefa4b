package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/licgate/licgate/store"
	"net/netip"
	"time"
)

// Export reads every row of the SQLite database in one read transaction.
func (s *Store) Export(ctx context.Context) (*store.Snapshot, error) {
	snap := &store.Snapshot{Counters: map[string]int64{}}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if snap.Users, err = collect(ctx, tx, scanUser, `SELECT `+userCols+` FROM users ORDER BY id`); err != nil {
			return err
		}
		if snap.Devices, err = collect(ctx, tx, scanDevice, `SELECT `+deviceCols+` FROM devices d JOIN users u ON u.id = d.user_id ORDER BY d.id`); err != nil {
			return err
		}
		if snap.Enrollments, err = collect(ctx, tx, scanEnrollmentRecord, `SELECT token_hash, user, device, created_at, expires_at, used_at, COALESCE(used_from, '') FROM enrollments ORDER BY id`); err != nil {
			return err
		}
		if snap.Sessions, err = collect(ctx, tx, scanSession, `SELECT key, start_at, end_at, user, device, service, proto, client, rule, reason,
			bytes_up, bytes_down, COALESCE(end_reason, '') FROM audit_sessions ORDER BY id`); err != nil {
			return err
		}
		if snap.Denials, err = collect(ctx, tx, scanDenial, `SELECT at, user, device, service, proto, source, rule, reason FROM audit_denials ORDER BY id`); err != nil {
			return err
		}
		if snap.Events, err = collect(ctx, tx, scanEvent, `SELECT at, actor, action, detail FROM audit_events ORDER BY id`); err != nil {
			return err
		}
		if snap.DDNS, err = collect(ctx, tx, scanDDNSState, `SELECT provider, family, addr, updated_at FROM ddns_state ORDER BY provider, family`); err != nil {
			return err
		}
		if snap.Holds, err = collect(ctx, tx, func(sc scanner) (store.ProviderHold, error) {
			var p store.ProviderHold
			var until sql.NullInt64
			var updated int64
			err := sc.Scan(&p.Provider, &p.Fatal, &p.Reason, &p.Fingerprint, &until, &updated)
			if until.Valid {
				p.BackoffUntil = time.UnixMilli(until.Int64)
			}
			p.Updated = time.UnixMilli(updated)
			return p, err
		}, `SELECT provider, fatal, reason, fingerprint, backoff_until, updated_at FROM ddns_holds ORDER BY provider`); err != nil {
			return err
		}
		type kv struct {
			k string
			v int64
		}
		cs, err := collect(ctx, tx, func(sc scanner) (kv, error) {
			var c kv
			return c, sc.Scan(&c.k, &c.v)
		}, `SELECT name, value FROM counters ORDER BY name`)
		for _, c := range cs {
			snap.Counters[c.k] = c.v
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: export: %w", err)
	}
	return snap, nil
}

// ScanEnrollmentRecord reads token_hash, user, device, created_at,
// expires_at, used_at, used_from (the export column order, shared by
// the backends).
func scanEnrollmentRecord(sc scanner) (store.EnrollmentRecord, error) {
	var e store.EnrollmentRecord
	var created, expires int64
	var used sql.NullInt64
	err := sc.Scan(&e.TokenHash, &e.User, &e.Device, &created, &expires, &used, &e.UsedFrom)
	e.Created, e.Expires, e.Used = time.UnixMilli(created), time.UnixMilli(expires), msTime(used)
	return e, err
}

func scanDDNSState(sc scanner) (store.DDNSState, error) {
	var d store.DDNSState
	var addr string
	var updated int64
	err := sc.Scan(&d.Provider, &d.Family, &addr, &updated)
	d.Addr, _ = netip.ParseAddr(addr)
	d.Updated = time.UnixMilli(updated)
	return d, err
}

func collect[T any](ctx context.Context, tx *sql.Tx, scan func(scanner) (T, error), query string) ([]T, error) {
	rows, err := tx.QueryContext(ctx, query)
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

// Import writes snap into an empty SQLite database.
func (s *Store) Import(ctx context.Context, snap *store.Snapshot) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM enrollments)
			+ (SELECT count(*) FROM audit_sessions) + (SELECT count(*) FROM audit_denials) + (SELECT count(*) FROM audit_events)`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %w", store.ErrExists, store.ErrNotEmpty)
		}
		uid := map[string]int64{}
		for _, u := range snap.Users {
			uid[u.Name] = u.ID
			if _, err := tx.ExecContext(ctx, `INSERT INTO users(id, name, email, disabled, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
				u.ID, u.Name, u.Email, u.Disabled, u.Created.UnixMilli(), msOrNull(u.Expires)); err != nil {
				return fmt.Errorf("user %s: %w", u.Name, err)
			}
		}
		for _, d := range snap.Devices {
			if _, err := tx.ExecContext(ctx, `INSERT INTO devices(id, user_id, name, public_key, address, created_at, revoked_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				d.ID, uid[d.User], d.Name, d.PublicKey, d.Address.String(), d.Created.UnixMilli(), msOrNull(d.Revoked), msOrNull(d.Expires)); err != nil {
				return fmt.Errorf("device %s/%s: %w", d.User, d.Name, err)
			}
		}
		for _, e := range snap.Enrollments {
			var from any
			if e.Used != nil {
				from = e.UsedFrom
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO enrollments(token_hash, user, device, created_at, expires_at, used_at, used_from) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				e.TokenHash, e.User, e.Device, e.Created.UnixMilli(), e.Expires.UnixMilli(), msOrNull(e.Used), from); err != nil {
				return err
			}
		}
		for _, a := range snap.Sessions {
			var end, endReason any
			if a.End != nil {
				end = a.End.UnixMicro()
			}
			if a.End != nil || a.EndReason != "" {
				endReason = a.EndReason
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO audit_sessions(key, start_at, end_at, user, device, service, proto, client, rule, reason, bytes_up, bytes_down, end_reason)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.Key, a.Start.UnixMicro(), end, a.User, a.Device, a.Service, a.Proto, a.Client, a.Rule, a.Reason,
				a.BytesUp, a.BytesDown, endReason); err != nil {
				return err
			}
		}
		for _, d := range snap.Denials {
			if _, err := tx.ExecContext(ctx, `INSERT INTO audit_denials(at, user, device, service, proto, source, rule, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				d.At.UnixMicro(), d.User, d.Device, d.Service, d.Proto, d.Source, d.Rule, d.Reason); err != nil {
				return err
			}
		}
		for _, e := range snap.Events {
			if _, err := tx.ExecContext(ctx, `INSERT INTO audit_events(at, actor, action, detail) VALUES (?, ?, ?, ?)`,
				e.At.UnixMicro(), e.Actor, e.Action, e.Detail); err != nil {
				return err
			}
		}
		for _, d := range snap.DDNS {
			if _, err := tx.ExecContext(ctx, `INSERT INTO ddns_state(provider, family, addr, updated_at) VALUES (?, ?, ?, ?)`,
				d.Provider, d.Family, d.Addr.String(), d.Updated.UnixMilli()); err != nil {
				return err
			}
		}
		for _, h := range snap.Holds {
			var until any
			if !h.BackoffUntil.IsZero() {
				until = h.BackoffUntil.UnixMilli()
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO ddns_holds(provider, fatal, reason, fingerprint, backoff_until, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
				h.Provider, h.Fatal, h.Reason, h.Fingerprint, until, h.Updated.UnixMilli()); err != nil {
				return err
			}
		}
		for k, v := range snap.Counters {
			if _, err := tx.ExecContext(ctx, `INSERT INTO counters(name, value) VALUES (?, ?)
				ON CONFLICT(name) DO UPDATE SET value = MAX(value, excluded.value)`, k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: import: %w", err)
	}
	return nil
}
