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

// CloseOpenSessions ends sessions left open by a crash whose key starts
// with keyPrefix, at the given time.
func (s *Store) CloseOpenSessions(ctx context.Context, keyPrefix string, at time.Time, reason string) (int64, error) {
	res, err := s.exec(ctx, `UPDATE audit_sessions SET end_at = MAX(start_at, ?), end_reason = ?
		WHERE end_at IS NULL AND substr(key, 1, length(?)) = ?`, at.UnixMicro(), reason, keyPrefix, keyPrefix)
	if err != nil {
		return 0, fmt.Errorf("store: close open sessions: %w", err)
	}
	return res.RowsAffected()
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
