//go:build !licgate_omit_postgres

package postgres_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/postgres"
	"github.com/licgate/licgate/store/postgres/pgtest"
	"github.com/licgate/licgate/store/sqlite"
	"github.com/licgate/licgate/store/storetest"
)

// openFixture copies a fixture database of package store/sqlite into a fresh
// state directory and opens it (migrating it to the current schema).
func openFixture(t *testing.T, name string) *sqlite.Store {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "sqlite", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, sqlite.FileName), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPG(t *testing.T, srv *pgtest.Server) *postgres.Store {
	t.Helper()
	p, err := postgres.Open(context.Background(), srv.NewDatabase(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// populate adds to a fixture what schema 5 could not hold: expiries,
// DDNS holds, the session epoch, a used link, open and ended sessions.
func populate(t *testing.T, b store.Backend) {
	ctx := context.Background()
	step := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := b.AddUser(ctx, "zed", "zed@example.net")
	step(err)
	exp := time.Date(2027, 5, 1, 0, 0, 0, 0, time.UTC)
	step(b.SetUserExpiry(ctx, "zed", &exp))
	_, err = b.AddDevice(ctx, store.NewDevice{User: "zed", Name: "phone", PublicKey: storetest.Key(900)}, storetest.Pool)
	step(err)
	step(b.SetDeviceExpiry(ctx, "zed", "phone", &exp))
	_, err = b.AddDevice(ctx, store.NewDevice{User: "zed", Name: "old", PublicKey: storetest.Key(901)}, storetest.Pool)
	step(err)
	_, err = b.RevokeDevice(ctx, "zed", "old")
	step(err)
	step(b.CreateEnrollment(ctx, "zed-link", "zed", "tablet", time.Now().Add(time.Hour)))
	_, _, err = b.ClaimEnrollmentAndAddDevice(ctx, "zed-link", "198.51.100.9", store.NewDevice{PublicKey: storetest.Key(902)}, storetest.Pool)
	step(err)
	step(b.CreateEnrollment(ctx, "zed-open", "zed", "spare", time.Now().Add(time.Hour)))
	step(b.SetDDNSHold(ctx, "cf", store.DDNSHold{Fatal: true, Reason: "401", Fingerprint: "abc", BackoffUntil: time.Now().Add(time.Hour)}))
	step(b.SetDDNSAddr(ctx, "cf", "ipv6", netip.MustParseAddr("2001:db8::7"), time.Now()))
	for i := 0; i < 3; i++ {
		_, err = b.NextSessionEpoch(ctx)
		step(err)
	}
	now := time.Now()
	step(b.WriteAudit(ctx, []store.AuditRecord{
		{Kind: store.AuditStart, Key: "z-1", At: now.Add(-time.Hour), User: "zed", Device: "phone", Service: "codemeter", Proto: "tcp", Client: "10.44.0.9:5", Rule: "rule 1", Reason: "allowed"},
		{Kind: store.AuditEnd, Key: "z-1", At: now, BytesUp: 1 << 40, BytesDown: 3, EndReason: "revoked"},
		{Kind: store.AuditStart, Key: "z-2", At: now, User: "zed", Device: "phone", Service: "codemeter", Proto: "tcp", Client: "10.44.0.9:6", Rule: "rule 1", Reason: "allowed"},
		{Kind: store.AuditEvent, At: now, Actor: "admin", Action: "user.add", Reason: "zed"},
	}))
}

// TestCopySQLiteToPostgres: the schema-5 fixture (migrated), with rows
// of every later feature added, copied into PostgreSQL without loss,
// and back into a fresh SQLite file.
func TestCopySQLiteToPostgres(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	for _, fixture := range []string{"state-v5.db", "state-v5-badkeys.db"} {
		t.Run(fixture, func(t *testing.T) {
			src := openFixture(t, fixture)
			populate(t, src)
			dst := openPG(t, srv)
			n, err := store.Copy(ctx, dst, src)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("copied %+v", n)
			// state-v5.db: 4 users, 7 devices, 3 links, 4 sessions, 2 denials,
			// 2 events, 3 DDNS rows; populate adds the rest.
			want := store.Counts{Users: 5, Devices: 10, Enrollments: 5, Sessions: 6, Denials: 2, Events: 3, DDNS: 4, Holds: 1, Counters: 1}
			if fixture == "state-v5.db" && n != want {
				t.Errorf("counts %+v, want %+v", n, want)
			}
			// The same questions get the same answers from both.
			from, to := time.Unix(0, 0), time.Now().Add(time.Hour)
			same := func(what string, a, b any, errA, errB error) {
				t.Helper()
				if errA != nil || errB != nil {
					t.Fatalf("%s: %v %v", what, errA, errB)
				}
				if !reflect.DeepEqual(utcJSON(a), utcJSON(b)) {
					t.Errorf("%s differs:\nsqlite:   %+v\npostgres: %+v", what, a, b)
				}
			}
			u1, e1 := src.Users(ctx)
			u2, e2 := dst.Users(ctx)
			same("users", u1, u2, e1, e2)
			d1, e1 := src.Devices(ctx, true)
			d2, e2 := dst.Devices(ctx, true)
			same("devices", d1, d2, e1, e2)
			s1, e1 := src.AuditSessions(ctx, from, to)
			s2, e2 := dst.AuditSessions(ctx, from, to)
			same("sessions", s1, s2, e1, e2)
			dn1, e1 := src.AuditDenials(ctx, from, to, -1)
			dn2, e2 := dst.AuditDenials(ctx, from, to, -1)
			same("denials", dn1, dn2, e1, e2)
			ev1, e1 := src.AuditEvents(ctx, from, to, 100)
			ev2, e2 := dst.AuditEvents(ctx, from, to, 100)
			same("events", ev1, ev2, e1, e2)
			h1, e1 := src.DDNSHold(ctx, "cf")
			h2, e2 := dst.DDNSHold(ctx, "cf")
			same("hold", h1, h2, e1, e2)
			// The epoch continues; links keep their state; IDs continue.
			ep1, _ := src.NextSessionEpoch(ctx)
			ep2, err := dst.NextSessionEpoch(ctx)
			if err != nil || ep1 != ep2 {
				t.Errorf("next epoch: sqlite %d, postgres %d %v", ep1, ep2, err)
			}
			if _, err := dst.PeekEnrollment(ctx, "zed-open"); err != nil {
				t.Errorf("unused link after copy: %v", err)
			}
			if _, err := dst.ClaimEnrollment(ctx, "zed-link", "x"); !errors.Is(err, store.ErrUsed) {
				t.Errorf("used link after copy: %v", err)
			}
			nd, err := dst.AddDevice(ctx, store.NewDevice{User: "zed", Name: "new", PublicKey: storetest.Key(903)}, storetest.Pool)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range d1 {
				if d.ID >= nd.ID || (d.Revoked == nil && d.Address == nd.Address) {
					t.Errorf("new device %+v collides with copied %+v", nd, d)
				}
			}
			// A second copy into a non-empty database is refused.
			if _, err := store.Copy(ctx, dst, src); !errors.Is(err, store.ErrExists) || !errors.Is(err, store.ErrNotEmpty) {
				t.Errorf("copy into a used database: %v", err)
			}
			// And back: PostgreSQL into a fresh SQLite file.
			back, err := sqlite.Open(ctx, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer back.Close()
			if _, err := store.Copy(ctx, back, dst); err != nil {
				t.Fatalf("copy back: %v", err)
			}
		})
	}
}

// utcJSON makes times comparable as instants.
func utcJSON(v any) any {
	rv := reflect.ValueOf(v)
	return fixTimes(rv).Interface()
}

func fixTimes(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Slice:
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := 0; i < v.Len(); i++ {
			out.Index(i).Set(fixTimes(v.Index(i)))
		}
		return out
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		p := reflect.New(v.Elem().Type())
		p.Elem().Set(fixTimes(v.Elem()))
		return p
	case reflect.Struct:
		if t, ok := v.Interface().(time.Time); ok {
			return reflect.ValueOf(t.UTC())
		}
		out := reflect.New(v.Type()).Elem()
		out.Set(v)
		for i := 0; i < v.NumField(); i++ {
			if out.Field(i).CanSet() {
				out.Field(i).Set(fixTimes(v.Field(i)))
			}
		}
		return out
	}
	return v
}
