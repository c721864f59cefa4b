package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/licgate/licgate/store"
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
	a, err := queryOne(ctx, s, s.db, scan, `SELECT addr FROM ddns_state WHERE provider = ? AND family = ?`, provider, family)
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
	_, err := s.exec(ctx, `INSERT INTO ddns_state(provider, family, addr, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT(provider, family) DO UPDATE SET addr = excluded.addr, updated_at = excluded.updated_at`,
		provider, family, addr.String(), at.UnixMilli())
	if err != nil {
		return fmt.Errorf("store: save ddns state %s/%s: %w", provider, family, err)
	}
	return nil
}

func scanHold(sc scanner) (store.DDNSHold, error) {
	var h store.DDNSHold
	var until sql.NullInt64
	var updated int64
	err := sc.Scan(&h.Fatal, &h.Reason, &h.Fingerprint, &until, &updated)
	if until.Valid {
		h.BackoffUntil = time.UnixMilli(until.Int64)
	}
	h.Updated = time.UnixMilli(updated)
	return h, err
}

// DDNSHold returns provider's hold; the zero DDNSHold (and no error) if
// there is none.
func (s *Store) DDNSHold(ctx context.Context, provider string) (store.DDNSHold, error) {
	h, err := queryOne(ctx, s, s.db, scanHold, `SELECT fatal, reason, fingerprint, backoff_until, updated_at FROM ddns_holds WHERE provider = ?`, provider)
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
	var until any
	if !h.BackoffUntil.IsZero() {
		until = h.BackoffUntil.UnixMilli()
	}
	_, err := s.exec(ctx, `INSERT INTO ddns_holds(provider, fatal, reason, fingerprint, backoff_until, updated_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT(provider) DO UPDATE SET fatal = excluded.fatal, reason = excluded.reason, fingerprint = excluded.fingerprint,
		backoff_until = excluded.backoff_until, updated_at = excluded.updated_at`,
		provider, h.Fatal, h.Reason, h.Fingerprint, until, s.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("store: set ddns hold %s: %w", provider, err)
	}
	return nil
}

// ClearDDNSHold removes provider's hold; clearing none is not an error.
func (s *Store) ClearDDNSHold(ctx context.Context, provider string) error {
	if _, err := s.exec(ctx, `DELETE FROM ddns_holds WHERE provider = ?`, provider); err != nil {
		return fmt.Errorf("store: clear ddns hold %s: %w", provider, err)
	}
	return nil
}
