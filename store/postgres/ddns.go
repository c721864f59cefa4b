//go:build !licgate_omit_postgres

package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/internal/sqlrow"
)

// DDNSAddr returns the address provider last accepted for family; the
// zero Addr if none.
func (s *Store) DDNSAddr(ctx context.Context, provider, family string) (netip.Addr, error) {
	scan := func(sc scanner) (string, error) {
		var a string
		return a, sc.Scan(&a)
	}
	a, err := queryOne(ctx, s, s.pool, scan, sqlrow.QueryDDNSAddr, provider, family)
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
	err := s.exec(ctx, sqlrow.SetDDNSAddr, provider, family, addr.String(), at.UnixMilli())
	if err != nil {
		return fmt.Errorf("postgres: save ddns state %s/%s: %w", provider, family, err)
	}
	return nil
}

// DDNSHold returns provider's hold; the zero DDNSHold if none.
func (s *Store) DDNSHold(ctx context.Context, provider string) (store.DDNSHold, error) {
	h, err := queryOne(ctx, s, s.pool, sqlrow.Hold, sqlrow.QueryHold, provider)
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
	err := s.exec(ctx, sqlrow.SetHold, sqlrow.HoldArgs(provider, h, s.now().UnixMilli())...)
	if err != nil {
		return fmt.Errorf("postgres: set ddns hold %s: %w", provider, err)
	}
	return nil
}

// ClearDDNSHold removes provider's hold; clearing none is not an error.
func (s *Store) ClearDDNSHold(ctx context.Context, provider string) error {
	if err := s.exec(ctx, sqlrow.ClearHold, provider); err != nil {
		return fmt.Errorf("postgres: clear ddns hold %s: %w", provider, err)
	}
	return nil
}
