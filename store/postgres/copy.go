//go:build !licgate_omit_postgres

package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/internal/sqlrow"
)

// Export reads every row in one repeatable-read transaction (a
// consistent snapshot while gateways keep writing).
func (s *Store) Export(ctx context.Context) (*store.Snapshot, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("postgres: export: %w", store.ErrClosed)
	}
	var snap *store.Snapshot
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		snap, err = sqlrow.Export(func(q string) (sqlrow.Rows, func(), error) {
			rows, err := tx.Query(ctx, q)
			if err != nil {
				return nil, nil, err
			}
			return rows, rows.Close, nil
		}, dialect)
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
		if err := tx.QueryRow(ctx, sqlrow.CountState).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %w", store.ErrExists, store.ErrNotEmpty)
		}
		for _, t := range sqlrow.Tables(snap) {
			if err := copyRows(ctx, tx, t.Name, t.Cols, t.Rows); err != nil {
				return err
			}
		}
		err := sqlrow.Upsert(snap, func(q string, args ...any) error {
			_, err := tx.Exec(ctx, dialect.SQL(q), args...)
			return err
		})
		if err != nil {
			return err
		}
		// Sequences continue after the copied IDs.
		_, err = tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('users', 'id'), COALESCE((SELECT max(id) FROM users), 0) + 1, false),
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
