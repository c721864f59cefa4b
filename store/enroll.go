package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Enrolment errors.
var (
	ErrExpired = errors.New("expired")
	ErrUsed    = errors.New("already used")
)

// Enrollment is a pending or used enrolment link.
type Enrollment struct {
	User    string
	Device  string
	Expires time.Time
}

// CreateEnrollment records a link for user's new device; tokenHash is
// the hash of the secret token (the token itself is never stored).
func (s *Store) CreateEnrollment(ctx context.Context, tokenHash, user, device string, expires time.Time) error {
	if err := ValidName(device); err != nil {
		return fmt.Errorf("store: create enrolment: %w", err)
	}
	if _, err := s.User(ctx, user); err != nil {
		return fmt.Errorf("store: create enrolment: %w", err)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO enrollments(token_hash, user, device, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		tokenHash, user, device, s.now().UnixMilli(), expires.UnixMilli())
	if err != nil {
		return fmt.Errorf("store: create enrolment: %w", err)
	}
	return nil
}

// ClaimEnrollment marks the link used, once: a second claim, an expired
// link or an unknown token is an error (ErrUsed, ErrExpired, ErrNotFound).
func (s *Store) ClaimEnrollment(ctx context.Context, tokenHash, from string) (Enrollment, error) {
	var e Enrollment
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var expires int64
		var used sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT user, device, expires_at, used_at FROM enrollments WHERE token_hash = ?`, tokenHash).
			Scan(&e.User, &e.Device, &expires, &used)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		e.Expires = time.UnixMilli(expires)
		now := s.now()
		switch {
		case used.Valid:
			return ErrUsed
		case !now.Before(e.Expires):
			return ErrExpired
		}
		_, err = tx.ExecContext(ctx, `UPDATE enrollments SET used_at = ?, used_from = ? WHERE token_hash = ? AND used_at IS NULL`, now.UnixMilli(), from, tokenHash)
		return err
	})
	if err != nil {
		return Enrollment{}, fmt.Errorf("store: enrolment link: %w", err)
	}
	return e, nil
}

// PeekEnrollment checks a link without using it up.
func (s *Store) PeekEnrollment(ctx context.Context, tokenHash string) (Enrollment, error) {
	var e Enrollment
	var expires int64
	var used sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT user, device, expires_at, used_at FROM enrollments WHERE token_hash = ?`, tokenHash).
		Scan(&e.User, &e.Device, &expires, &used)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		err = ErrNotFound
	case err != nil:
	case used.Valid:
		err = ErrUsed
	case !s.now().Before(time.UnixMilli(expires)):
		err = ErrExpired
	}
	if err != nil {
		return Enrollment{}, fmt.Errorf("store: enrolment link: %w", err)
	}
	e.Expires = time.UnixMilli(expires)
	return e, nil
}
