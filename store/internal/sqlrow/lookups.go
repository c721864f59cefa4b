package sqlrow

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/licgate/licgate/store"
)

// Conn is a SQL backend's database outside a transaction. Statements are
// in this package's notation (Conn spells them for its Dialect); every
// call after the backend's Close fails with store.ErrClosed.
type Conn interface {
	// Query runs q; done closes the rows.
	Query(ctx context.Context, q string, args ...any) (rows Rows, done func(), err error)
	// QueryRow runs q for one row.
	QueryRow(ctx context.Context, q string, args ...any) Scanner
	// Exec runs q and says how many rows it changed.
	Exec(ctx context.Context, q string, args ...any) (int64, error)
	// Err maps a driver error to the store's sentinels: no row is
	// store.ErrNotFound; a full or read-only storage store.ErrStateDir.
	Err(err error) error
	// Limit is the LIMIT argument for limit (negative: no limit).
	Limit(limit int) any
}

// Lookups are the methods of store.Backend that are one statement on a
// SQL backend: users, devices, the audit reports and DDNS state. A SQL
// backend embeds it over its Conn.
type Lookups struct {
	Conn Conn
	// Name starts every error ("store", "postgres").
	Name string
	// Now is the backend's clock.
	Now func() time.Time
}

func (l Lookups) wrap(what string, err error) error {
	return fmt.Errorf("%s: %s: %w", l.Name, what, err)
}

// All runs q on c and scans every row; none is an empty slice.
func All[T any](ctx context.Context, c Conn, scan func(Scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, done, err := c.Query(ctx, q, args...)
	if err != nil {
		return nil, c.Err(err)
	}
	defer done()
	out, err := Collect(rows, scan)
	return out, c.Err(err)
}

// One scans the row q returns on c; store.ErrNotFound when none.
func One[T any](ctx context.Context, c Conn, scan func(Scanner) (T, error), q string, args ...any) (T, error) {
	v, err := scan(c.QueryRow(ctx, q, args...))
	if err != nil {
		var zero T
		return zero, c.Err(err)
	}
	return v, nil
}

// execOne runs an UPDATE that must touch a row; ErrNotFound otherwise.
func (l Lookups) execOne(ctx context.Context, q string, args ...any) error {
	n, err := l.Conn.Exec(ctx, q, args...)
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	return err
}

// User returns one user by name.
func (l Lookups) User(ctx context.Context, name string) (store.User, error) {
	u, err := One(ctx, l.Conn, User, QueryUser, name)
	if err != nil {
		return store.User{}, l.wrap("user "+name, err)
	}
	return u, nil
}

// Users lists every user by name.
func (l Lookups) Users(ctx context.Context) ([]store.User, error) {
	us, err := All(ctx, l.Conn, User, QueryUsers)
	if err != nil {
		return nil, l.wrap("list users", err)
	}
	return us, nil
}

// SetUserDisabled disables or re-enables a user.
func (l Lookups) SetUserDisabled(ctx context.Context, name string, disabled bool) error {
	if err := l.execOne(ctx, SetUserOff, disabled, name); err != nil {
		return l.wrap("disable user "+name, err)
	}
	return nil
}

// SetUserExpiry sets (or, with nil, clears) when a user's access ends.
func (l Lookups) SetUserExpiry(ctx context.Context, name string, expires *time.Time) error {
	if err := l.execOne(ctx, SetUserExpiry, MsOrNull(expires), name); err != nil {
		return l.wrap("user "+name+" expiry", err)
	}
	return nil
}

// Devices lists active (not revoked) devices, or all when all is true.
func (l Lookups) Devices(ctx context.Context, all bool) ([]store.Device, error) {
	q := QueryDevicesAct
	if all {
		q = QueryDevices
	}
	ds, err := All(ctx, l.Conn, Device, q)
	if err != nil {
		return nil, l.wrap("list devices", err)
	}
	return ds, nil
}

// Device returns the active device user/name.
func (l Lookups) Device(ctx context.Context, user, name string) (store.Device, error) {
	d, err := One(ctx, l.Conn, Device, QueryDevice, user, name)
	if err != nil {
		return store.Device{}, l.wrap("device "+user+"/"+name, err)
	}
	return d, nil
}

// SetDeviceExpiry sets (or clears) when the active device user/name stops working.
func (l Lookups) SetDeviceExpiry(ctx context.Context, user, name string, expires *time.Time) error {
	if err := l.execOne(ctx, SetDeviceExpry, MsOrNull(expires), name, user); err != nil {
		return l.wrap("device "+user+"/"+name+" expiry", err)
	}
	return nil
}

// AuditSessions returns sessions that overlap [from, to), oldest first.
func (l Lookups) AuditSessions(ctx context.Context, from, to time.Time) ([]store.AuditSession, error) {
	out, err := All(ctx, l.Conn, Session, QuerySessions, to.UnixMicro(), from.UnixMicro())
	if err != nil {
		return nil, l.wrap("audit sessions", err)
	}
	return out, nil
}

// AuditDenials returns refusals in [from, to), newest first, at most
// limit (negative: all).
func (l Lookups) AuditDenials(ctx context.Context, from, to time.Time, limit int) ([]store.AuditDenialRow, error) {
	out, err := All(ctx, l.Conn, Denial, QueryDenials, from.UnixMicro(), to.UnixMicro(), l.Conn.Limit(limit))
	if err != nil {
		return nil, l.wrap("audit denials", err)
	}
	return out, nil
}

// AuditEvents returns admin events in [from, to), newest first, at most
// limit (negative: all).
func (l Lookups) AuditEvents(ctx context.Context, from, to time.Time, limit int) ([]store.AuditEventRow, error) {
	out, err := All(ctx, l.Conn, Event, QueryEvents, from.UnixMicro(), to.UnixMicro(), l.Conn.Limit(limit))
	if err != nil {
		return nil, l.wrap("audit events", err)
	}
	return out, nil
}

// DDNSAddr returns the address provider last accepted for family
// ("ipv4"/"ipv6"); the zero Addr if none.
func (l Lookups) DDNSAddr(ctx context.Context, provider, family string) (netip.Addr, error) {
	a, err := One(ctx, l.Conn, func(sc Scanner) (string, error) {
		var a string
		return a, sc.Scan(&a)
	}, QueryDDNSAddr, provider, family)
	if errors.Is(err, store.ErrNotFound) {
		return netip.Addr{}, nil
	}
	if err != nil {
		return netip.Addr{}, l.wrap("ddns state "+provider+"/"+family, err)
	}
	return netip.ParseAddr(a)
}

// SetDDNSAddr records that provider accepted addr for family.
func (l Lookups) SetDDNSAddr(ctx context.Context, provider, family string, addr netip.Addr, at time.Time) error {
	if _, err := l.Conn.Exec(ctx, SetDDNSAddr, provider, family, addr.String(), at.UnixMilli()); err != nil {
		return l.wrap("save ddns state "+provider+"/"+family, err)
	}
	return nil
}

// DDNSHold returns provider's hold; the zero DDNSHold (and no error) if
// there is none.
func (l Lookups) DDNSHold(ctx context.Context, provider string) (store.DDNSHold, error) {
	h, err := One(ctx, l.Conn, Hold, QueryHold, provider)
	if errors.Is(err, store.ErrNotFound) {
		return store.DDNSHold{}, nil
	}
	if err != nil {
		return store.DDNSHold{}, l.wrap("ddns hold "+provider, err)
	}
	return h, nil
}

// SetDDNSHold replaces provider's hold (Updated is set to now).
func (l Lookups) SetDDNSHold(ctx context.Context, provider string, h store.DDNSHold) error {
	if _, err := l.Conn.Exec(ctx, SetHold, HoldArgs(provider, h, l.Now().UnixMilli())...); err != nil {
		return l.wrap("set ddns hold "+provider, err)
	}
	return nil
}

// ClearDDNSHold removes provider's hold; clearing none is not an error.
func (l Lookups) ClearDDNSHold(ctx context.Context, provider string) error {
	if _, err := l.Conn.Exec(ctx, ClearHold, provider); err != nil {
		return l.wrap("clear ddns hold "+provider, err)
	}
	return nil
}

// ErrRow is a row that fails with err (a Conn's QueryRow after Close).
type ErrRow struct{ Err error }

// Scan returns the error.
func (r ErrRow) Scan(...any) error { return r.Err }

// CreateEnrollment records a link for user's new device; tokenHash is
// the hash of the secret token (the token itself is never stored).
func (l Lookups) CreateEnrollment(ctx context.Context, tokenHash, user, device string, expires time.Time) error {
	if err := store.ValidName(device); err != nil {
		return l.wrap("create enrolment", err)
	}
	if _, err := l.User(ctx, user); err != nil {
		return l.wrap("create enrolment", err)
	}
	if _, err := l.Conn.Exec(ctx, InsertLink, tokenHash, user, device, l.Now().UnixMilli(), expires.UnixMilli()); err != nil {
		return l.wrap("create enrolment", err)
	}
	return nil
}

// PeekEnrollment checks a link without using it up.
func (l Lookups) PeekEnrollment(ctx context.Context, tokenHash string) (store.Enrollment, error) {
	now := l.Now()
	e, err := One(ctx, l.Conn, func(sc Scanner) (store.Enrollment, error) { return Link(sc, now) }, QueryLink, tokenHash)
	if err != nil {
		return store.Enrollment{}, l.wrap("enrolment link", err)
	}
	return e, nil
}
