package store

import (
	"context"
	"net/netip"
	"time"

	"github.com/licgate/licgate/ddns"
)

// DDNSStateStore lets the ddns manager keep its state in the store: each
// provider's accepted address, and its stop or back-off across restarts.
type DDNSStateStore struct{ Store *Store }

var _ ddns.StateStore = DDNSStateStore{}

// LoadDDNS returns the address provider last accepted for fam.
func (s DDNSStateStore) LoadDDNS(p string, f ddns.Family) (netip.Addr, error) {
	return s.Store.DDNSAddr(context.Background(), p, f.String())
}

// SaveDDNS records that provider accepted a for fam at at.
func (s DDNSStateStore) SaveDDNS(p string, f ddns.Family, a netip.Addr, at time.Time) error {
	return s.Store.SetDDNSAddr(context.Background(), p, f.String(), a, at)
}

// DDNSHold reads a provider's persisted stop or back-off.
func (s DDNSStateStore) DDNSHold(ctx context.Context, p string) (ddns.Hold, error) {
	h, err := s.Store.DDNSHold(ctx, p)
	return ddns.Hold{Reason: h.Reason, Fatal: h.Fatal, Until: h.BackoffUntil, ConfigFingerprint: h.Fingerprint}, err
}

// SetDDNSHold persists a provider's stop or back-off, so a restart obeys it.
func (s DDNSStateStore) SetDDNSHold(ctx context.Context, p string, h ddns.Hold) error {
	return s.Store.SetDDNSHold(ctx, p, DDNSHold{Reason: h.Reason, Fatal: h.Fatal, BackoffUntil: h.Until, Fingerprint: h.ConfigFingerprint})
}

// ClearDDNSHold removes a provider's hold.
func (s DDNSStateStore) ClearDDNSHold(ctx context.Context, p string) error {
	return s.Store.ClearDDNSHold(ctx, p)
}
