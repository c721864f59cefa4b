// Package sqlrow is what the SQL backends (store/sqlite through
// database/sql, store/postgres through pgx) share: their tables are the
// same (times as Unix milliseconds, audit times as microseconds), so one
// set of statements, row scanners, the export and the import rows serves
// both. Statements are written once with ? placeholders and {C} where a
// text ORDER BY wants byte order; Dialect.SQL spells them for a backend.
package sqlrow

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/licgate/licgate/store"
)

// Scanner is one row: *sql.Row, *sql.Rows, pgx.Row and pgx.Rows all are.
type Scanner interface{ Scan(dest ...any) error }

// Rows is a result set: *sql.Rows and pgx.Rows both are. The caller
// closes it.
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// Collect scans every row of rows with scan; none is an empty slice.
func Collect[T any](rows Rows, scan func(Scanner) (T, error)) ([]T, error) {
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Dialect is how a backend spells the shared statements.
type Dialect struct {
	// Numbered: placeholders are $1, $2, ... (PostgreSQL), not ?.
	Numbered bool
	// Collate replaces {C} after a text column in ORDER BY: ` COLLATE "C"`
	// where the default collation follows a locale (PostgreSQL), empty
	// where it is byte order already (SQLite).
	Collate string
}

// SQL spells q for d.
func (d Dialect) SQL(q string) string {
	q = strings.ReplaceAll(q, "{C}", d.Collate)
	if !d.Numbered || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// MsTime reads a nullable millisecond column.
func MsTime(v *int64) *time.Time {
	if v == nil {
		return nil
	}
	t := time.UnixMilli(*v)
	return &t
}

// MsOrNull is the argument for a nullable millisecond column.
func MsOrNull(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

// UsOrNull is the argument for a nullable microsecond column.
func UsOrNull(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

// The columns each scanner reads, in its order.
const (
	UserCols       = `id, name, email, disabled, created_at, expires_at`
	DeviceCols     = `d.id, u.name, d.name, d.public_key, d.address, d.created_at, d.revoked_at, d.expires_at, d.pending_until`
	DeviceFrom     = ` FROM devices d JOIN users u ON u.id = d.user_id`
	SessionCols    = `key, start_at, end_at, "user", device, service, proto, client, rule, reason, bytes_up, bytes_down, COALESCE(end_reason, '')`
	DenialCols     = `at, "user", device, service, proto, source, rule, reason`
	EventCols      = `at, actor, action, detail`
	EnrollmentCols = `token_hash, "user", device, created_at, expires_at, used_at, COALESCE(used_from, '')`
	DDNSStateCols  = `provider, family, addr, updated_at`
	HoldCols       = `fatal, reason, fingerprint, backoff_until, updated_at`
)

// User scans UserCols.
func User(sc Scanner) (store.User, error) {
	var u store.User
	var created int64
	var expires *int64
	err := sc.Scan(&u.ID, &u.Name, &u.Email, &u.Disabled, &created, &expires)
	u.Created, u.Expires = time.UnixMilli(created), MsTime(expires)
	return u, err
}

// Device scans DeviceCols.
func Device(sc Scanner) (store.Device, error) {
	var d store.Device
	var addr string
	var created int64
	var revoked, expires, pending *int64
	err := sc.Scan(&d.ID, &d.User, &d.Name, &d.PublicKey, &addr, &created, &revoked, &expires, &pending)
	d.Address, _ = netip.ParseAddr(addr)
	d.Created, d.Revoked, d.Expires, d.Pending = time.UnixMilli(created), MsTime(revoked), MsTime(expires), MsTime(pending)
	return d, err
}

// Session scans SessionCols.
func Session(sc Scanner) (store.AuditSession, error) {
	var a store.AuditSession
	var start int64
	var end *int64
	err := sc.Scan(&a.Key, &start, &end, &a.User, &a.Device, &a.Service, &a.Proto, &a.Client, &a.Rule, &a.Reason,
		&a.BytesUp, &a.BytesDown, &a.EndReason)
	a.Start = time.UnixMicro(start)
	if end != nil {
		t := time.UnixMicro(*end)
		a.End = &t
	}
	return a, err
}

// Denial scans DenialCols.
func Denial(sc Scanner) (store.AuditDenialRow, error) {
	var d store.AuditDenialRow
	var at int64
	err := sc.Scan(&at, &d.User, &d.Device, &d.Service, &d.Proto, &d.Source, &d.Rule, &d.Reason)
	d.At = time.UnixMicro(at)
	return d, err
}

// Event scans EventCols.
func Event(sc Scanner) (store.AuditEventRow, error) {
	var e store.AuditEventRow
	var at int64
	err := sc.Scan(&at, &e.Actor, &e.Action, &e.Detail)
	e.At = time.UnixMicro(at)
	return e, err
}

// EnrollmentRecord scans EnrollmentCols.
func EnrollmentRecord(sc Scanner) (store.EnrollmentRecord, error) {
	var e store.EnrollmentRecord
	var created, expires int64
	var used *int64
	err := sc.Scan(&e.TokenHash, &e.User, &e.Device, &created, &expires, &used, &e.UsedFrom)
	e.Created, e.Expires, e.Used = time.UnixMilli(created), time.UnixMilli(expires), MsTime(used)
	return e, err
}

// DDNSState scans DDNSStateCols.
func DDNSState(sc Scanner) (store.DDNSState, error) {
	var d store.DDNSState
	var addr string
	var updated int64
	err := sc.Scan(&d.Provider, &d.Family, &addr, &updated)
	d.Addr, _ = netip.ParseAddr(addr)
	d.Updated = time.UnixMilli(updated)
	return d, err
}

// Hold scans HoldCols.
func Hold(sc Scanner) (store.DDNSHold, error) {
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

// ProviderHold scans provider, then HoldCols.
func ProviderHold(sc Scanner) (store.ProviderHold, error) {
	var p store.ProviderHold
	h, err := Hold(prefixScanner{sc, &p.Provider})
	p.DDNSHold = h
	return p, err
}

// prefixScanner scans its first column into first, the rest as asked.
type prefixScanner struct {
	sc    Scanner
	first any
}

func (p prefixScanner) Scan(dest ...any) error { return p.sc.Scan(append([]any{p.first}, dest...)...) }

// AddrUse reads rows of (address, revoked_at) (QueryAddrUse) into the
// allocation state.
func AddrUse(rows Rows) (*store.AddrUse, error) {
	use := &store.AddrUse{Used: map[netip.Addr]bool{}, Revoked: map[netip.Addr]time.Time{}}
	for rows.Next() {
		var a string
		var rev *int64
		if err := rows.Scan(&a, &rev); err != nil {
			return nil, err
		}
		ad, err := netip.ParseAddr(a)
		switch {
		case err != nil:
		case rev == nil:
			use.Used[ad] = true
		case time.UnixMilli(*rev).After(use.Revoked[ad]):
			use.Revoked[ad] = time.UnixMilli(*rev)
		}
	}
	return use, rows.Err()
}
