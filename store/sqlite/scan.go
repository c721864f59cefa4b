package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/internal/sqlrow"
)

// dialect spells the shared statements for SQLite: ? placeholders, and
// names already order by their bytes.
var dialect = sqlrow.Dialect{}

// scanner is a *sql.Row or *sql.Rows.
type scanner = sqlrow.Scanner

// querier is a *sql.DB or *sql.Tx.
type querier interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

// queryAll runs query on the store's database and scans every row with
// scan; none is an empty slice.
func queryAll[T any](ctx context.Context, s *Store, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.dirErr(err)
	}
	defer rows.Close()
	return sqlrow.Collect(rows, scan)
}

// queryOne scans the single row query returns; ErrNotFound when none.
func queryOne[T any](ctx context.Context, s *Store, q querier, scan func(scanner) (T, error), query string, args ...any) (T, error) {
	var zero T
	if s.closed.Load() {
		return zero, store.ErrClosed
	}
	v, err := scan(q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return zero, store.ErrNotFound
	}
	if err != nil {
		return zero, s.dirErr(err)
	}
	return v, nil
}
