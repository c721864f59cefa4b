//go:build !licgate_omit_postgres

package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/licgate/licgate/store"
)

// CreateEnrollment records a single-use link; only tokenHash is stored.
func (s *Store) CreateEnrollment(ctx context.Context, tokenHash, user, device string, expires time.Time) error {
	if err := store.ValidName(device); err != nil {
		return fmt.Errorf("postgres: create enrolment: %w", err)
	}
	if _, err := s.User(ctx, user); err != nil {
		return fmt.Errorf("postgres: create enrolment: %w", err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO enrollments(token_hash, "user", device, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		tokenHash, user, device, s.now().UnixMilli(), expires.UnixMilli())
	if err != nil {
		return fmt.Errorf("postgres: create enrolment: %w", mapErr(err))
	}
	return nil
}

// usable reads the link (locking its row when lock) and says why it
// cannot be used, if so.
func (s *Store) usable(ctx context.Context, q querier, tokenHash string, lock bool) (store.Enrollment, error) {
	type row struct {
		e    store.Enrollment
		used bool
	}
	scan := func(sc scanner) (row, error) {
		var r row
		var expires int64
		var used *int64
		err := sc.Scan(&r.e.User, &r.e.Device, &expires, &used)
		r.e.Expires = time.UnixMilli(expires)
		r.used = used != nil
		return r, err
	}
	query := `SELECT "user", device, expires_at, used_at FROM enrollments WHERE token_hash = $1`
	if lock {
		query += ` FOR UPDATE`
	}
	r, err := queryOne(ctx, s, q, scan, query, tokenHash)
	switch {
	case err != nil:
		return store.Enrollment{}, err
	case r.used:
		return store.Enrollment{}, store.ErrUsed
	case !s.now().Before(r.e.Expires):
		return store.Enrollment{}, store.ErrExpired
	}
	return r.e, nil
}

// claim marks the link used inside tx; the row lock makes a second
// concurrent claim wait and then see it used.
func (s *Store) claim(ctx context.Context, tx pgx.Tx, tokenHash, from string) (store.Enrollment, error) {
	e, err := s.usable(ctx, tx, tokenHash, true)
	if err != nil {
		return store.Enrollment{}, err
	}
	_, err = tx.Exec(ctx, `UPDATE enrollments SET used_at = $1, used_from = $2 WHERE token_hash = $3 AND used_at IS NULL`,
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

// ClaimEnrollmentAndAddDevice claims the link and creates its device in
// one transaction.
func (s *Store) ClaimEnrollmentAndAddDevice(ctx context.Context, tokenHash, from string, nd store.NewDevice, pool store.Pool) (store.Enrollment, store.Device, error) {
	var e store.Enrollment
	var d store.Device
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		if e, err = s.claim(ctx, tx, tokenHash, from); err != nil {
			return err
		}
		if (nd.User != "" && nd.User != e.User) || (nd.Name != "" && nd.Name != e.Device) {
			return fmt.Errorf("%w: link is for %s/%s, not %s/%s", store.ErrInvalid, e.User, e.Device, nd.User, nd.Name)
		}
		nd.User, nd.Name = e.User, e.Device
		d, err = s.addDevice(ctx, tx, nd, pool, nil)
		return err
	})
	if err != nil {
		return store.Enrollment{}, store.Device{}, fmt.Errorf("postgres: enrolment link: %w", err)
	}
	return e, d, nil
}

// PeekEnrollment checks a link without using it up.
func (s *Store) PeekEnrollment(ctx context.Context, tokenHash string) (store.Enrollment, error) {
	e, err := s.usable(ctx, s.pool, tokenHash, false)
	if err != nil {
		return store.Enrollment{}, fmt.Errorf("postgres: enrolment link: %w", err)
	}
	return e, nil
}
