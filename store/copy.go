package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"time"
)

// Snapshot is every row of a state database, in a form both backends
// write back without loss: IDs, revoked devices, used enrolment links,
// open and ended audit sessions, DDNS state and holds, and counters (the
// session epoch). Rows are in id order.
type Snapshot struct {
	Users       []User
	Devices     []Device // revoked ones included
	Enrollments []EnrollmentRecord
	Sessions    []AuditSession // Key set
	Denials     []AuditDenialRow
	Events      []AuditEventRow
	DDNS        []DDNSState
	Holds       []ProviderHold
	Counters    map[string]int64
}

// EnrollmentRecord is an enrolment link as stored.
type EnrollmentRecord struct {
	TokenHash string
	User      string
	Device    string
	Created   time.Time
	Expires   time.Time
	Used      *time.Time
	UsedFrom  string
}

// DDNSState is the address a provider last accepted for a family.
type DDNSState struct {
	Provider string
	Family   string
	Addr     netip.Addr
	Updated  time.Time
}

// ProviderHold is a provider's DDNS hold.
type ProviderHold struct {
	Provider string
	DDNSHold
}

// Counts says how many rows of each kind a Copy moved.
type Counts struct {
	Users, Devices, Enrollments, Sessions, Denials, Events, DDNS, Holds, Counters int
}

func (s *Snapshot) counts() Counts {
	return Counts{len(s.Users), len(s.Devices), len(s.Enrollments), len(s.Sessions), len(s.Denials), len(s.Events), len(s.DDNS), len(s.Holds), len(s.Counters)}
}

// Exporter is a backend that can read all of its rows (every backend of
// licgate: store/sqlite, store/bolt, store/postgres).
type Exporter interface {
	Export(ctx context.Context) (*Snapshot, error)
}

// Importer is a backend that can write a Snapshot into an empty
// database, in one transaction, keeping IDs. A database that already
// has users, devices, links or audit records is refused (ErrExists).
type Importer interface {
	Import(ctx context.Context, snap *Snapshot) error
}

// Copyable is a backend Copy reads from and writes into: every backend
// of licgate is.
type Copyable interface {
	Backend
	Exporter
	Importer
}

// ErrNotEmpty is wrapped (with ErrExists) when Copy's destination
// already holds state.
var ErrNotEmpty = errors.New("destination is not empty")

// Copy copies every row of src into dst, which must be empty (the
// `licgate store migrate --to postgres` step): users, devices including
// revoked ones, enrolment links, the audit log, DDNS state and holds,
// and the session epoch. It then reads dst back and compares it with
// what it read from src, so a nil error means nothing was lost. Either
// backend must implement Exporter and Importer.
func Copy(ctx context.Context, dst, src Backend) (Counts, error) {
	snap, err := Export(ctx, src)
	if err != nil {
		return Counts{}, err
	}
	if err := importInto(ctx, dst, snap); err != nil {
		return Counts{}, err
	}
	back, err := Export(ctx, dst)
	if err != nil {
		return Counts{}, fmt.Errorf("store: copy: read back: %w", err)
	}
	if err := snap.Equal(back); err != nil {
		return Counts{}, fmt.Errorf("store: copy: destination differs from source: %w", err)
	}
	return snap.counts(), nil
}

// Export reads every row of b.
func Export(ctx context.Context, b Backend) (*Snapshot, error) {
	if e, ok := b.(Exporter); ok {
		return e.Export(ctx)
	}
	return nil, fmt.Errorf("store: export: %w: %T cannot be exported", ErrInvalid, b)
}

func importInto(ctx context.Context, b Backend, snap *Snapshot) error {
	if i, ok := b.(Importer); ok {
		return i.Import(ctx, snap)
	}
	return fmt.Errorf("store: import: %w: %T cannot be imported into", ErrInvalid, b)
}

// Equal reports the first difference between two snapshots (times
// compared as instants), or nil.
func (s *Snapshot) Equal(o *Snapshot) error {
	a, b := normaliseSnapshot(s), normaliseSnapshot(o)
	for _, f := range []struct {
		name string
		x, y any
	}{
		{"users", a.Users, b.Users}, {"devices", a.Devices, b.Devices}, {"enrollments", a.Enrollments, b.Enrollments},
		{"audit sessions", a.Sessions, b.Sessions}, {"audit denials", a.Denials, b.Denials}, {"audit events", a.Events, b.Events},
		{"ddns state", a.DDNS, b.DDNS}, {"ddns holds", a.Holds, b.Holds}, {"counters", a.Counters, b.Counters},
	} {
		if !reflect.DeepEqual(f.x, f.y) {
			xv, yv := reflect.ValueOf(f.x), reflect.ValueOf(f.y)
			if xv.Len() != yv.Len() {
				return fmt.Errorf("%s: %d rows, %d rows", f.name, xv.Len(), yv.Len())
			}
			if xv.Kind() == reflect.Slice {
				for i := 0; i < xv.Len(); i++ {
					if !reflect.DeepEqual(xv.Index(i).Interface(), yv.Index(i).Interface()) {
						return fmt.Errorf("%s row %d: %+v, %+v", f.name, i, xv.Index(i).Interface(), yv.Index(i).Interface())
					}
				}
			}
			return fmt.Errorf("%s: %v, %v", f.name, f.x, f.y)
		}
	}
	return nil
}

// normaliseSnapshot puts every time in UTC so DeepEqual compares instants.
func normaliseSnapshot(s *Snapshot) *Snapshot {
	n := *s
	utc := func(t time.Time) time.Time { return t.UTC() }
	utcp := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		u := t.UTC()
		return &u
	}
	n.Users = append([]User(nil), s.Users...)
	for i := range n.Users {
		n.Users[i].Created, n.Users[i].Expires = utc(n.Users[i].Created), utcp(n.Users[i].Expires)
	}
	n.Devices = append([]Device(nil), s.Devices...)
	for i := range n.Devices {
		d := &n.Devices[i]
		d.Created, d.Revoked, d.Expires = utc(d.Created), utcp(d.Revoked), utcp(d.Expires)
	}
	n.Enrollments = append([]EnrollmentRecord(nil), s.Enrollments...)
	for i := range n.Enrollments {
		e := &n.Enrollments[i]
		e.Created, e.Expires, e.Used = utc(e.Created), utc(e.Expires), utcp(e.Used)
	}
	n.Sessions = append([]AuditSession(nil), s.Sessions...)
	for i := range n.Sessions {
		n.Sessions[i].Start, n.Sessions[i].End = utc(n.Sessions[i].Start), utcp(n.Sessions[i].End)
	}
	n.Denials = append([]AuditDenialRow(nil), s.Denials...)
	for i := range n.Denials {
		n.Denials[i].At = utc(n.Denials[i].At)
	}
	n.Events = append([]AuditEventRow(nil), s.Events...)
	for i := range n.Events {
		n.Events[i].At = utc(n.Events[i].At)
	}
	n.DDNS = append([]DDNSState(nil), s.DDNS...)
	for i := range n.DDNS {
		n.DDNS[i].Updated = utc(n.DDNS[i].Updated)
	}
	n.Holds = append([]ProviderHold(nil), s.Holds...)
	for i := range n.Holds {
		n.Holds[i].BackoffUntil, n.Holds[i].Updated = utc(n.Holds[i].BackoffUntil), utc(n.Holds[i].Updated)
	}
	if n.Counters == nil {
		n.Counters = map[string]int64{}
	}
	return &n
}
