package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/licgate/licgate/store"
	"time"
)

// WriteAudit writes records in one transaction, in order.
func (s *Store) WriteAudit(ctx context.Context, recs []store.AuditRecord) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, r := range recs {
			var err error
			switch r.Kind {
			case store.AuditStart:
				_, err = tx.ExecContext(ctx, `INSERT INTO audit_sessions(key, start_at, user, device, service, proto, client, rule, reason)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.Key, r.At.UnixMicro(), r.User, r.Device, r.Service, r.Proto, r.Client, r.Rule, r.Reason)
			case store.AuditEnd:
				_, err = tx.ExecContext(ctx, `UPDATE audit_sessions SET end_at = ?, bytes_up = ?, bytes_down = ?, end_reason = ? WHERE key = ?`,
					r.At.UnixMicro(), r.BytesUp, r.BytesDown, r.EndReason, r.Key)
			case store.AuditDenial:
				_, err = tx.ExecContext(ctx, `INSERT INTO audit_denials(at, user, device, service, proto, source, rule, reason)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.At.UnixMicro(), r.User, r.Device, r.Service, r.Proto, r.Client, r.Rule, r.Reason)
			case store.AuditEvent:
				_, err = tx.ExecContext(ctx, `INSERT INTO audit_events(at, actor, action, detail) VALUES (?, ?, ?, ?)`,
					r.At.UnixMicro(), r.Actor, r.Action, r.Reason)
			default:
				err = fmt.Errorf("%w: audit kind %d", store.ErrInvalid, r.Kind)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: write audit: %w", err)
	}
	return nil
}

// CloseOpenSessions ends sessions left open by a crash, at the given time.
func (s *Store) CloseOpenSessions(ctx context.Context, at time.Time, reason string) (int64, error) {
	res, err := s.exec(ctx, `UPDATE audit_sessions SET end_at = MAX(start_at, ?), end_reason = ? WHERE end_at IS NULL`, at.UnixMicro(), reason)
	if err != nil {
		return 0, fmt.Errorf("store: close open sessions: %w", err)
	}
	return res.RowsAffected()
}

func scanSession(sc scanner) (store.AuditSession, error) {
	var a store.AuditSession
	var start int64
	var end sql.NullInt64
	err := sc.Scan(&a.Key, &start, &end, &a.User, &a.Device, &a.Service, &a.Proto, &a.Client, &a.Rule, &a.Reason,
		&a.BytesUp, &a.BytesDown, &a.EndReason)
	a.Start = time.UnixMicro(start)
	if end.Valid {
		t := time.UnixMicro(end.Int64)
		a.End = &t
	}
	return a, err
}

// AuditSessions returns sessions that overlap [from, to), oldest first.
func (s *Store) AuditSessions(ctx context.Context, from, to time.Time) ([]store.AuditSession, error) {
	out, err := queryAll(ctx, s, scanSession, `SELECT key, start_at, end_at, user, device, service, proto, client, rule, reason,
		bytes_up, bytes_down, COALESCE(end_reason, '') FROM audit_sessions
		WHERE start_at < ? AND (end_at IS NULL OR end_at >= ?) ORDER BY start_at, id`, to.UnixMicro(), from.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("store: audit sessions: %w", err)
	}
	return out, nil
}

func scanDenial(sc scanner) (store.AuditDenialRow, error) {
	var d store.AuditDenialRow
	var at int64
	err := sc.Scan(&at, &d.User, &d.Device, &d.Service, &d.Proto, &d.Source, &d.Rule, &d.Reason)
	d.At = time.UnixMicro(at)
	return d, err
}

// AuditDenials returns refusals in [from, to), newest first, at most limit.
func (s *Store) AuditDenials(ctx context.Context, from, to time.Time, limit int) ([]store.AuditDenialRow, error) {
	out, err := queryAll(ctx, s, scanDenial, `SELECT at, user, device, service, proto, source, rule, reason FROM audit_denials
		WHERE at >= ? AND at < ? ORDER BY at DESC, id DESC LIMIT ?`, from.UnixMicro(), to.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("store: audit denials: %w", err)
	}
	return out, nil
}

func scanEvent(sc scanner) (store.AuditEventRow, error) {
	var e store.AuditEventRow
	var at int64
	err := sc.Scan(&at, &e.Actor, &e.Action, &e.Detail)
	e.At = time.UnixMicro(at)
	return e, err
}

// AuditEvents returns admin events in [from, to), newest first, at most limit.
func (s *Store) AuditEvents(ctx context.Context, from, to time.Time, limit int) ([]store.AuditEventRow, error) {
	out, err := queryAll(ctx, s, scanEvent, `SELECT at, actor, action, detail FROM audit_events
		WHERE at >= ? AND at < ? ORDER BY at DESC, id DESC LIMIT ?`, from.UnixMicro(), to.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("store: audit events: %w", err)
	}
	return out, nil
}

// PruneAudit deletes audit records that ended (or happened) before t.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		b := before.UnixMicro()
		for _, q := range []string{
			`DELETE FROM audit_sessions WHERE end_at IS NOT NULL AND end_at < ?`,
			`DELETE FROM audit_denials WHERE at < ?`,
			`DELETE FROM audit_events WHERE at < ?`,
		} {
			res, err := tx.ExecContext(ctx, q, b)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			total += n
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: prune audit: %w", err)
	}
	return total, nil
}
