package store

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestPoolAllocate: the allocator's rules on fixed times: an expired
// quarantine frees the address, a live one holds it unless nothing else
// is left (then the oldest revocation goes first, with a warning).
func TestPoolAllocate(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	ip := func(s string) netip.Addr { return netip.MustParseAddr("10.9.0." + s) }
	var logs bytes.Buffer
	p := Pool{Subnet: netip.MustParsePrefix("10.9.0.0/29"), Reserved: []netip.Addr{ip("1")}, Quarantine: 720 * time.Hour,
		Log: slog.New(slog.NewTextHandler(&logs, nil))}
	used := func(last ...string) map[netip.Addr]bool {
		m := map[netip.Addr]bool{}
		for _, s := range last {
			m[ip(s)] = true
		}
		return m
	}
	for _, c := range []struct {
		name    string
		use     AddrUse
		want    netip.Addr
		warning bool
	}{
		{"lowest free", AddrUse{Used: used("2")}, ip("3"), false},
		{"quarantined skipped", AddrUse{Used: used("2"), Revoked: map[netip.Addr]time.Time{ip("3"): now.Add(-time.Hour)}}, ip("4"), false},
		{"quarantine over", AddrUse{Used: used("2"), Revoked: map[netip.Addr]time.Time{ip("3"): now.Add(-721 * time.Hour)}}, ip("3"), false},
		{"used and revoked before", AddrUse{Used: used("2", "3"), Revoked: map[netip.Addr]time.Time{ip("3"): now.Add(-time.Hour)}}, ip("4"), false},
		{"exhausted: oldest revocation", AddrUse{Used: used("2", "4", "6"),
			Revoked: map[netip.Addr]time.Time{ip("3"): now.Add(-time.Hour), ip("5"): now.Add(-2 * time.Hour)}}, ip("5"), true},
	} {
		logs.Reset()
		got, err := p.Allocate(&c.use, now)
		if err != nil || got != c.want {
			t.Errorf("%s: %v %v, want %s", c.name, got, err, c.want)
		}
		if warned := strings.Contains(logs.String(), "address="+c.want.String()); warned != c.warning {
			t.Errorf("%s: warning %v, want %v: %s", c.name, warned, c.warning, logs.String())
		}
	}
	if _, err := p.Allocate(&AddrUse{Used: used("2", "3", "4", "5", "6")}, now); !errors.Is(err, ErrExhausted) {
		t.Errorf("full pool: %v", err)
	}
	if _, err := (Pool{}).Allocate(&AddrUse{}, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("no subnet: %v", err)
	}
}
