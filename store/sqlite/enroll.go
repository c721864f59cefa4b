package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/internal/sqlrow"
)

// usable reads the link and says why it cannot be used, if so.
func (s *Store) usable(ctx context.Context, q querier, tokenHash string) (store.Enrollment, error) {
	now := s.now()
	return queryOne(ctx, s, q, func(sc scanner) (store.Enrollment, error) { return sqlrow.Link(sc, now) }, sqlrow.QueryLink, tokenHash)
}

// claim marks the link used inside tx.
func (s *Store) claim(ctx context.Context, tx *sql.Tx, tokenHash, from string) (store.Enrollment, error) {
	e, err := s.usable(ctx, tx, tokenHash)
	if err != nil {
		return store.Enrollment{}, err
	}
	_, err = tx.ExecContext(ctx, sqlrow.ClaimLink,
		s.now().UnixMilli(), from, tokenHash)
	return e, err
}

// ClaimEnrollment marks the link used, once: a second claim, an expired
// link or an unknown token is an error (ErrUsed, ErrExpired, ErrNotFound).
func (s *Store) ClaimEnrollment(ctx context.Context, tokenHash, from string) (store.Enrollment, error) {
	var e store.Enrollment
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		e, err = s.claim(ctx, tx, tokenHash, from)
		return err
	})
	if err != nil {
		return store.Enrollment{}, fmt.Errorf("store: enrolment link: %w", err)
	}
	return e, nil
}
