package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/internal/sqlrow"
)

// WriteAudit writes records in one transaction, in order.
func (s *Store) WriteAudit(ctx context.Context, recs []store.AuditRecord) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, r := range recs {
			q, args, err := sqlrow.Audit(r)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
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

// AuditSessions returns sessions that overlap [from, to), oldest first.
func (s *Store) AuditSessions(ctx context.Context, from, to time.Time) ([]store.AuditSession, error) {
	out, err := queryAll(ctx, s, sqlrow.Session, sqlrow.QuerySessions, to.UnixMicro(), from.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("store: audit sessions: %w", err)
	}
	return out, nil
}

// AuditDenials returns refusals in [from, to), newest first, at most
// limit (a negative limit: all).
func (s *Store) AuditDenials(ctx context.Context, from, to time.Time, limit int) ([]store.AuditDenialRow, error) {
	out, err := queryAll(ctx, s, sqlrow.Denial, sqlrow.QueryDenials, from.UnixMicro(), to.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("store: audit denials: %w", err)
	}
	return out, nil
}

// AuditEvents returns admin events in [from, to), newest first, at most
// limit (a negative limit: all).
func (s *Store) AuditEvents(ctx context.Context, from, to time.Time, limit int) ([]store.AuditEventRow, error) {
	out, err := queryAll(ctx, s, sqlrow.Event, sqlrow.QueryEvents, from.UnixMicro(), to.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("store: audit events: %w", err)
	}
	return out, nil
}

// PruneAudit deletes audit records that ended (or happened) before t.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, q := range sqlrow.PruneAudit {
			res, err := tx.ExecContext(ctx, q, before.UnixMicro())
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
