package store

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"time"
)

// This file holds what every backend shares: the sentinel errors, the
// row types, the name rule and the address allocator.

// Sentinel errors; match with errors.Is.
var (
	ErrNotFound  = errors.New("not found")
	ErrExists    = errors.New("already exists")
	ErrInvalid   = errors.New("invalid")
	ErrExhausted = errors.New("address pool exhausted")
	// ErrClosed is returned by every method called after Close.
	ErrClosed = net.ErrClosed
	// ErrStateDir wraps failures of the state directory itself: it is
	// not a directory, read-only, or full. The message names the directory.
	ErrStateDir = errors.New("state directory unusable")
)

// Enrolment errors.
var (
	ErrExpired = errors.New("expired")
	ErrUsed    = errors.New("already used")
)

// User is a person who may hold licenses.
type User struct {
	ID       int64      `json:"id"`
	Name     string     `json:"name"`
	Email    string     `json:"email,omitempty"`
	Disabled bool       `json:"disabled"`
	Created  time.Time  `json:"created"`
	Expires  *time.Time `json:"expires,omitempty"`
}

// Device is one WireGuard peer, belonging to a user.
type Device struct {
	ID        int64      `json:"id"`
	User      string     `json:"user"`
	Name      string     `json:"name"`
	PublicKey string     `json:"public_key"` // base64, as wg shows it
	Address   netip.Addr `json:"address"`
	Created   time.Time  `json:"created"`
	Revoked   *time.Time `json:"revoked,omitempty"`
	Expires   *time.Time `json:"expires,omitempty"`
	// Pending is set while the device waits for an admin's approval
	// (sign-in enrolment with signin.enrol.approval): the request ends
	// then. A pending device holds its name, key and address, but is no
	// active device: Devices and Device leave it out, so it has no peer.
	Pending *time.Time `json:"pending_until,omitempty"`
}

// NewDevice is what AddDevice needs.
type NewDevice struct {
	User      string
	Name      string
	PublicKey string // canonical base64 (44 characters), as wg shows it
	// Pending makes the device a request waiting for approval until then
	// (AddPendingDevice); nil: an active device.
	Pending *time.Time
}

// Pool is the tunnel address space devices are allocated from.
type Pool struct {
	Subnet   netip.Prefix
	Reserved []netip.Addr // e.g. the gateway's own address
	// Quarantine is how long a revoked device's address is kept from new
	// devices: with source: tunnel the license server's own records (its
	// access rules, logs, borrowed licenses) know a device by that
	// address, and must never see it on the next person. A quarantined
	// address is reused only when the pool has no other free address,
	// the one revoked longest ago first, with a warning on Log. If zero,
	// a revoked address is free at once (config's
	// tunnel.address_quarantine defaults to 720h).
	Quarantine time.Duration
	// Log gets the warning when a quarantined address is reused. If nil,
	// it is discarded.
	Log *slog.Logger
}

// AddrUse is what allocation needs to know of the devices table, read
// once per transaction by a backend.
type AddrUse struct {
	// Used holds the addresses of active devices.
	Used map[netip.Addr]bool
	// Revoked holds, per address, its latest revocation; a backend may
	// leave out revocations older than Pool.QuarantineSince.
	Revoked map[netip.Addr]time.Time
}

// QuarantineSince is the oldest revocation still in quarantine at now:
// backends read revocations from then on.
func (p Pool) QuarantineSince(now time.Time) time.Time { return now.Add(-p.Quarantine) }

// Allocate returns the lowest address of the pool that is neither used,
// reserved, in quarantine, the network address nor (IPv4) the broadcast
// address. When only quarantined addresses are left, it returns the one
// revoked longest ago and logs it. The caller marks the address used
// once its row is written.
func (p Pool) Allocate(u *AddrUse, now time.Time) (netip.Addr, error) {
	sub := p.Subnet.Masked()
	if !sub.IsValid() {
		return netip.Addr{}, fmt.Errorf("%w: pool subnet not set", ErrInvalid)
	}
	reserved := map[netip.Addr]bool{}
	for _, r := range p.Reserved {
		reserved[r] = true
	}
	var oldest netip.Addr
	var oldestAt time.Time
	last := lastAddr(sub)
	for a := sub.Addr().Next(); a.IsValid() && sub.Contains(a); a = a.Next() {
		if a.Is4() && a == last {
			break
		}
		if u.Used[a] || reserved[a] {
			continue
		}
		at, revoked := u.Revoked[a]
		if !revoked || p.Quarantine <= 0 || !now.Before(at.Add(p.Quarantine)) {
			return a, nil
		}
		if !oldest.IsValid() || at.Before(oldestAt) {
			oldest, oldestAt = a, at
		}
	}
	if oldest.IsValid() {
		log := p.Log
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		log.Warn("store: tunnel address pool exhausted: reusing a revoked device's address before its quarantine ended",
			slog.String("address", oldest.String()), slog.Time("revoked", oldestAt),
			slog.Duration("quarantine", p.Quarantine), slog.String("pool", sub.String()))
		return oldest, nil
	}
	return netip.Addr{}, fmt.Errorf("%w: %s", ErrExhausted, sub)
}

// Enrollment is a pending or used enrolment link.
type Enrollment struct {
	User    string
	Device  string
	Expires time.Time
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidName reports whether s is a valid user or device name: lowercase
// letters, digits, '.', '_' and '-', starting with a letter or digit, at
// most 63 characters. It is the one name rule of licgate; errors wrap
// ErrInvalid.
func ValidName(s string) error {
	if !nameRE.MatchString(s) {
		return fmt.Errorf("%w: name %q: use lowercase letters, digits, '.', '_' or '-' (at most 63)", ErrInvalid, s)
	}
	return nil
}

// CheckUser checks a new user's name (ValidName) and email (ValidEmail).
func CheckUser(name, email string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	return ValidEmail(email)
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
