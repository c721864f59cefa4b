//go:build !licgate_omit_postgres

package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/internal/sqlrow"
)

// WriteAudit writes records in one transaction, in order (one batch).
func (s *Store) WriteAudit(ctx context.Context, recs []store.AuditRecord) error {
	b := &pgx.Batch{}
	for _, r := range recs {
		q, args, err := sqlrow.Audit(r)
		if err != nil {
			return fmt.Errorf("postgres: write audit: %w", err)
		}
		b.Queue(dialect.SQL(q), args...)
	}
	err := s.tx(ctx, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b).Close() })
	if err != nil {
		return fmt.Errorf("postgres: write audit: %w", err)
	}
	return nil
}

// CloseOpenSessions ends sessions left open whose key starts with
// keyPrefix, at the given time.
func (s *Store) CloseOpenSessions(ctx context.Context, keyPrefix string, at time.Time, reason string) (int64, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("postgres: close open sessions: %w", store.ErrClosed)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE audit_sessions SET end_at = GREATEST(start_at, $1), end_reason = $2
		WHERE end_at IS NULL AND left(key, length($3)) = $3`, at.UnixMicro(), reason, keyPrefix)
	if err != nil {
		return 0, fmt.Errorf("postgres: close open sessions: %w", mapErr(err))
	}
	return tag.RowsAffected(), nil
}

// PruneAudit deletes audit records that ended (or happened) before t.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		for _, q := range sqlrow.PruneAudit {
			tag, err := tx.Exec(ctx, dialect.SQL(q), before.UnixMicro())
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
