package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

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

// conn is the database outside a transaction as sqlrow.Lookups uses it.
type conn struct{ s *Store }

func (c conn) Query(ctx context.Context, q string, args ...any) (sqlrow.Rows, func(), error) {
	if c.s.closed.Load() {
		return nil, nil, store.ErrClosed
	}
	rows, err := c.s.db.QueryContext(ctx, dialect.SQL(q), args...)
	if err != nil {
		return nil, nil, err
	}
	return rows, func() { rows.Close() }, nil
}

func (c conn) QueryRow(ctx context.Context, q string, args ...any) sqlrow.Scanner {
	if c.s.closed.Load() {
		return sqlrow.ErrRow{Err: store.ErrClosed}
	}
	return c.s.db.QueryRowContext(ctx, dialect.SQL(q), args...)
}

func (c conn) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := c.s.exec(ctx, dialect.SQL(q), args...)
	if isUnique(err) {
		return 0, fmt.Errorf("%w: %w", store.ErrExists, err)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c conn) Err(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return c.s.dirErr(err)
}

// Limit: SQLite's LIMIT takes a negative number as no limit.
func (conn) Limit(limit int) any { return limit }

// queryOne scans the single row query returns; ErrNotFound when none.
func queryOne[T any](ctx context.Context, s *Store, q querier, scan func(scanner) (T, error), query string, args ...any) (T, error) {
	var zero T
	if s.closed.Load() {
		return zero, store.ErrClosed
	}
	v, err := scan(q.QueryRowContext(ctx, query, args...))
	if err != nil {
		return zero, conn{s}.Err(err)
	}
	return v, nil
}
