//go:build !licgate_omit_postgres

package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/licgate/licgate/store"
)

// WriteAudit writes records in one transaction, in order.
func (s *Store) WriteAudit(ctx context.Context, recs []store.AuditRecord) error {
	for _, r := range recs {
		switch r.Kind {
		case store.AuditStart, store.AuditEnd, store.AuditDenial, store.AuditEvent:
		default:
			return fmt.Errorf("postgres: write audit: %w: audit kind %d", store.ErrInvalid, r.Kind)
		}
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, r := range recs {
			switch r.Kind {
			case store.AuditStart:
				b.Queue(`INSERT INTO audit_sessions(key, start_at, "user", device, service, proto, client, rule, reason)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, r.Key, r.At.UnixMicro(), r.User, r.Device, r.Service, r.Proto, r.Client, r.Rule, r.Reason)
			case store.AuditEnd:
				b.Queue(`UPDATE audit_sessions SET end_at = $1, bytes_up = $2, bytes_down = $3, end_reason = $4 WHERE key = $5`,
					r.At.UnixMicro(), r.BytesUp, r.BytesDown, r.EndReason, r.Key)
			case store.AuditDenial:
				b.Queue(`INSERT INTO audit_denials(at, "user", device, service, proto, source, rule, reason)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, r.At.UnixMicro(), r.User, r.Device, r.Service, r.Proto, r.Client, r.Rule, r.Reason)
			case store.AuditEvent:
				b.Queue(`INSERT INTO audit_events(at, actor, action, detail) VALUES ($1, $2, $3, $4)`,
					r.At.UnixMicro(), r.Actor, r.Action, r.Reason)
			}
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: write audit: %w", err)
	}
	return nil
}

// CloseOpenSessions ends sessions left open, at the given time.
func (s *Store) CloseOpenSessions(ctx context.Context, at time.Time, reason string) (int64, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("postgres: close open sessions: %w", store.ErrClosed)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE audit_sessions SET end_at = GREATEST(start_at, $1), end_reason = $2 WHERE end_at IS NULL`, at.UnixMicro(), reason)
	if err != nil {
		return 0, fmt.Errorf("postgres: close open sessions: %w", mapErr(err))
	}
	return tag.RowsAffected(), nil
}

func scanSession(sc scanner) (store.AuditSession, error) {
	var a store.AuditSession
	var start int64
	var end *int64
	err := sc.Scan(&a.Key, &start, &end, &a.User, &a.Device, &a.Service, &a.Proto, &a.Client, &a.Rule, &a.Reason,
		&a.BytesUp, &a.BytesDown, &a.EndReason)
	a.Start = time.UnixMicro(start)
	if end != nil {
		t := time.UnixMicro(*end)
		a.End = &t
	}
	return a, err
}

// AuditSessions returns sessions that overlap [from, to), oldest first.
func (s *Store) AuditSessions(ctx context.Context, from, to time.Time) ([]store.AuditSession, error) {
	out, err := queryAll(ctx, s, scanSession, `SELECT key, start_at, end_at, "user", device, service, proto, client, rule, reason,
		bytes_up, bytes_down, COALESCE(end_reason, '') FROM audit_sessions
		WHERE start_at < $1 AND (end_at IS NULL OR end_at >= $2) ORDER BY start_at, id`, to.UnixMicro(), from.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("postgres: audit sessions: %w", err)
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

// limitArg is SQLite's LIMIT semantics in PostgreSQL: a negative limit
// means no limit (NULL), zero means no rows.
func limitArg(limit int) any {
	if limit < 0 {
		return nil
	}
	return limit
}

// AuditDenials returns refusals in [from, to), newest first, at most limit.
func (s *Store) AuditDenials(ctx context.Context, from, to time.Time, limit int) ([]store.AuditDenialRow, error) {
	out, err := queryAll(ctx, s, scanDenial, `SELECT at, "user", device, service, proto, source, rule, reason FROM audit_denials
		WHERE at >= $1 AND at < $2 ORDER BY at DESC, id DESC LIMIT $3`, from.UnixMicro(), to.UnixMicro(), limitArg(limit))
	if err != nil {
		return nil, fmt.Errorf("postgres: audit denials: %w", err)
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
		WHERE at >= $1 AND at < $2 ORDER BY at DESC, id DESC LIMIT $3`, from.UnixMicro(), to.UnixMicro(), limitArg(limit))
	if err != nil {
		return nil, fmt.Errorf("postgres: audit events: %w", err)
	}
	return out, nil
}

// PruneAudit deletes audit records that ended (or happened) before t.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		b := before.UnixMicro()
		for _, q := range []string{
			`DELETE FROM audit_sessions WHERE end_at IS NOT NULL AND end_at < $1`,
			`DELETE FROM audit_denials WHERE at < $1`,
			`DELETE FROM audit_events WHERE at < $1`,
		} {
			tag, err := tx.Exec(ctx, q, b)
			if err != nil {
				return err
			}
			total += tag.RowsAffected()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: prune audit: %w", err)
	}
	return total, nil
}
