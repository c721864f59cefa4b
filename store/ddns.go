package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// DDNSAddr returns the address provider last accepted for family
// ("ipv4"/"ipv6"); the zero Addr if none.
func (s *Store) DDNSAddr(ctx context.Context, provider, family string) (netip.Addr, error) {
	var a string
	err := s.db.QueryRowContext(ctx, `SELECT addr FROM ddns_state WHERE provider = ? AND family = ?`, provider, family).Scan(&a)
	if errors.Is(err, sql.ErrNoRows) {
		return netip.Addr{}, nil
	}
	if err != nil {
		return netip.Addr{}, fmt.Errorf("store: ddns state %s/%s: %w", provider, family, err)
	}
	return netip.ParseAddr(a)
}

// SetDDNSAddr records that provider accepted addr for family.
func (s *Store) SetDDNSAddr(ctx context.Context, provider, family string, addr netip.Addr, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO ddns_state(provider, family, addr, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT(provider, family) DO UPDATE SET addr = excluded.addr, updated_at = excluded.updated_at`,
		provider, family, addr.String(), at.UnixMilli())
	if err != nil {
		return fmt.Errorf("store: save ddns state %s/%s: %w", provider, family, err)
	}
	return nil
}
