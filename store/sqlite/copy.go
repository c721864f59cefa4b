package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/internal/sqlrow"
)

// Export reads every row of the SQLite database in one read transaction.
func (s *Store) Export(ctx context.Context) (*store.Snapshot, error) {
	var snap *store.Snapshot
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		snap, err = sqlrow.Export(func(q string) (sqlrow.Rows, func(), error) {
			rows, err := tx.QueryContext(ctx, q)
			if err != nil {
				return nil, nil, err
			}
			return rows, func() { rows.Close() }, nil
		}, dialect)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: export: %w", err)
	}
	return snap, nil
}

// Import writes snap into an empty SQLite database in one transaction,
// keeping user and device IDs.
func (s *Store) Import(ctx context.Context, snap *store.Snapshot) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, sqlrow.CountState).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %w", store.ErrExists, store.ErrNotEmpty)
		}
		for _, t := range sqlrow.Tables(snap) {
			q := `INSERT INTO ` + t.Name + `("` + strings.Join(t.Cols, `", "`) + `") VALUES (?` + strings.Repeat(`, ?`, len(t.Cols)-1) + `)`
			for _, r := range t.Rows {
				if _, err := tx.ExecContext(ctx, q, r...); err != nil {
					return fmt.Errorf("%s: %w", t.Name, err)
				}
			}
		}
		return sqlrow.Upsert(snap, func(q string, args ...any) error {
			_, err := tx.ExecContext(ctx, q, args...)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("store: import: %w", err)
	}
	return nil
}
