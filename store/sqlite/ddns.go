package sqlite

import (
	"context"
	"fmt"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/internal/sqlrow"
	"net/netip"
	"time"
)

// DDNSAddr returns the address provider last accepted for family
// ("ipv4"/"ipv6"); the zero Addr if none.
func (s *Store) DDNSAddr(ctx context.Context, provider, family string) (netip.Addr, error) {
	scan := func(sc scanner) (string, error) {
		var a string
		return a, sc.Scan(&a)
	}
	a, err := queryOne(ctx, s, s.db, scan, sqlrow.QueryDDNSAddr, provider, family)
	if isNotFound(err) {
		return netip.Addr{}, nil
	}
	if err != nil {
		return netip.Addr{}, fmt.Errorf("store: ddns state %s/%s: %w", provider, family, err)
	}
	return netip.ParseAddr(a)
}

// SetDDNSAddr records that provider accepted addr for family.
func (s *Store) SetDDNSAddr(ctx context.Context, provider, family string, addr netip.Addr, at time.Time) error {
	_, err := s.exec(ctx, sqlrow.SetDDNSAddr, provider, family, addr.String(), at.UnixMilli())
	if err != nil {
		return fmt.Errorf("store: save ddns state %s/%s: %w", provider, family, err)
	}
	return nil
}

// DDNSHold returns provider's hold; the zero DDNSHold (and no error) if
// there is none.
func (s *Store) DDNSHold(ctx context.Context, provider string) (store.DDNSHold, error) {
	h, err := queryOne(ctx, s, s.db, sqlrow.Hold, sqlrow.QueryHold, provider)
	if isNotFound(err) {
		return store.DDNSHold{}, nil
	}
	if err != nil {
		return store.DDNSHold{}, fmt.Errorf("store: ddns hold %s: %w", provider, err)
	}
	return h, nil
}

// SetDDNSHold replaces provider's hold (h.Updated is set to now).
func (s *Store) SetDDNSHold(ctx context.Context, provider string, h store.DDNSHold) error {
	_, err := s.exec(ctx, sqlrow.SetHold, sqlrow.HoldArgs(provider, h, s.now().UnixMilli())...)
	if err != nil {
		return fmt.Errorf("store: set ddns hold %s: %w", provider, err)
	}
	return nil
}

// ClearDDNSHold removes provider's hold; clearing none is not an error.
func (s *Store) ClearDDNSHold(ctx context.Context, provider string) error {
	if _, err := s.exec(ctx, sqlrow.ClearHold, provider); err != nil {
		return fmt.Errorf("store: clear ddns hold %s: %w", provider, err)
	}
	return nil
}
