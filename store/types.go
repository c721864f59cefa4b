package store

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strings"
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
}

// NewDevice is what AddDevice needs.
type NewDevice struct {
	User      string
	Name      string
	PublicKey string // canonical base64 (44 characters), as wg shows it
}

// Pool is the tunnel address space devices are allocated from.
type Pool struct {
	Subnet   netip.Prefix
	Reserved []netip.Addr // e.g. the gateway's own address
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

// checkUser checks a new user's name and email (empty, or with an '@').
func checkUser(name, email string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if email != "" && !strings.Contains(email, "@") {
		return fmt.Errorf("%w: email %q", ErrInvalid, email)
	}
	return nil
}

// allocate returns the lowest address of the pool that is neither used,
// reserved, the network address nor (IPv4) the broadcast address.
func allocate(pool Pool, used map[netip.Addr]bool) (netip.Addr, error) {
	p := pool.Subnet.Masked()
	if !p.IsValid() {
		return netip.Addr{}, fmt.Errorf("%w: pool subnet not set", ErrInvalid)
	}
	reserved := map[netip.Addr]bool{}
	for _, r := range pool.Reserved {
		reserved[r] = true
	}
	last := lastAddr(p)
	for a := p.Addr().Next(); a.IsValid() && p.Contains(a); a = a.Next() {
		if a.Is4() && a == last {
			break
		}
		if !used[a] && !reserved[a] {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%w: %s", ErrExhausted, p)
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// probeWritable writes, syncs and removes a small file in dir, so that a
// read-only or full directory is reported as such before SQLite reports
// it as "unable to open database file".
func probeWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".licgate-probe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(make([]byte, 512))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
