//go:build !licgate_omit_postgres

package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/internal/sqlrow"
)

// usable reads the link (locking its row when lock) and says why it
// cannot be used, if so.
func (s *Store) usable(ctx context.Context, q querier, tokenHash string, lock bool) (store.Enrollment, error) {
	query := sqlrow.QueryLink
	if lock {
		query += ` FOR UPDATE`
	}
	now := s.now()
	return queryOne(ctx, s, q, func(sc scanner) (store.Enrollment, error) { return sqlrow.Link(sc, now) }, query, tokenHash)
}

// claim marks the link used inside tx; the row lock makes a second
// concurrent claim wait and then see it used.
func (s *Store) claim(ctx context.Context, tx pgx.Tx, tokenHash, from string) (store.Enrollment, error) {
	e, err := s.usable(ctx, tx, tokenHash, true)
	if err != nil {
		return store.Enrollment{}, err
	}
	_, err = tx.Exec(ctx, dialect.SQL(sqlrow.ClaimLink),
		s.now().UnixMilli(), from, tokenHash)
	return e, err
}

// ClaimEnrollment marks the link used, once.
func (s *Store) ClaimEnrollment(ctx context.Context, tokenHash, from string) (store.Enrollment, error) {
	var e store.Enrollment
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		e, err = s.claim(ctx, tx, tokenHash, from)
		return err
	})
	if err != nil {
		return store.Enrollment{}, fmt.Errorf("postgres: enrolment link: %w", err)
	}
	return e, nil
}
