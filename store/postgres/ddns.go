//go:build !licgate_omit_postgres

package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/licgate/licgate/store"
)

// DDNSAddr returns the address provider last accepted for family; the
// zero Addr if none.
func (s *Store) DDNSAddr(ctx context.Context, provider, family string) (netip.Addr, error) {
	scan := func(sc scanner) (string, error) {
		var a string
		return a, sc.Scan(&a)
	}
	a, err := queryOne(ctx, s, s.pool, scan, `SELECT addr FROM ddns_state WHERE provider = $1 AND family = $2`, provider, family)
	if errors.Is(err, store.ErrNotFound) {
		return netip.Addr{}, nil
	}
	if err != nil {
		return netip.Addr{}, fmt.Errorf("postgres: ddns state %s/%s: %w", provider, family, err)
	}
	return netip.ParseAddr(a)
}

// SetDDNSAddr records that provider accepted addr for family.
func (s *Store) SetDDNSAddr(ctx context.Context, provider, family string, addr netip.Addr, at time.Time) error {
	if s.closed.Load() {
		return fmt.Errorf("postgres: save ddns state %s/%s: %w", provider, family, store.ErrClosed)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO ddns_state(provider, family, addr, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT(provider, family) DO UPDATE SET addr = excluded.addr, updated_at = excluded.updated_at`,
		provider, family, addr.String(), at.UnixMilli())
	if err != nil {
		return fmt.Errorf("postgres: save ddns state %s/%s: %w", provider, family, mapErr(err))
	}
	return nil
}

func scanHold(sc scanner) (store.DDNSHold, error) {
	var h store.DDNSHold
	var until *int64
	var updated int64
	err := sc.Scan(&h.Fatal, &h.Reason, &h.Fingerprint, &until, &updated)
	if until != nil {
		h.BackoffUntil = time.UnixMilli(*until)
	}
	h.Updated = time.UnixMilli(updated)
	return h, err
}

// DDNSHold returns provider's hold; the zero DDNSHold if none.
func (s *Store) DDNSHold(ctx context.Context, provider string) (store.DDNSHold, error) {
	h, err := queryOne(ctx, s, s.pool, scanHold, `SELECT fatal, reason, fingerprint, backoff_until, updated_at FROM ddns_holds WHERE provider = $1`, provider)
	if errors.Is(err, store.ErrNotFound) {
		return store.DDNSHold{}, nil
	}
	if err != nil {
		return store.DDNSHold{}, fmt.Errorf("postgres: ddns hold %s: %w", provider, err)
	}
	return h, nil
}

// SetDDNSHold replaces provider's hold (Updated is set to now).
func (s *Store) SetDDNSHold(ctx context.Context, provider string, h store.DDNSHold) error {
	if s.closed.Load() {
		return fmt.Errorf("postgres: set ddns hold %s: %w", provider, store.ErrClosed)
	}
	var until any
	if !h.BackoffUntil.IsZero() {
		until = h.BackoffUntil.UnixMilli()
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO ddns_holds(provider, fatal, reason, fingerprint, backoff_until, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT(provider) DO UPDATE SET fatal = excluded.fatal, reason = excluded.reason, fingerprint = excluded.fingerprint,
		backoff_until = excluded.backoff_until, updated_at = excluded.updated_at`,
		provider, h.Fatal, h.Reason, h.Fingerprint, until, s.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("postgres: set ddns hold %s: %w", provider, mapErr(err))
	}
	return nil
}

// ClearDDNSHold removes provider's hold; clearing none is not an error.
func (s *Store) ClearDDNSHold(ctx context.Context, provider string) error {
	if s.closed.Load() {
		return fmt.Errorf("postgres: clear ddns hold %s: %w", provider, store.ErrClosed)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM ddns_holds WHERE provider = $1`, provider); err != nil {
		return fmt.Errorf("postgres: clear ddns hold %s: %w", provider, mapErr(err))
	}
	return nil
}
