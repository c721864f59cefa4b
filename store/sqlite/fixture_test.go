package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/licgate/licgate/store"
)

// The fixture is a state database written by licgate's schema-5 code
// (modernc.org/sqlite, before the driver change), with a golden dump of
// every row taken by that same code. TestFixtureSurvives opens it with
// today's driver and migrations and checks every row is still there.
//
// The files are history, not output: they were written at commit a08475a
// (schema 5, modernc.org/sqlite) with
//
//	go test ./store/ -run 'TestWrite.*Fixture' -write-fixture
//
// and the writers refuse to run on any other schema.
var writeFixture = flag.Bool("write-fixture", false, "write testdata/state-v5.db and its golden dump")

const (
	fixtureDB   = "testdata/state-v5.db"
	fixtureJSON = "testdata/state-v5.json"
	// fixtureBadKeys holds non-canonical device keys; see TestWriteBadKeyFixture.
	fixtureBadKeys = "testdata/state-v5-badkeys.db"
)

// fixtureTables are the tables of schema 5, each with its ordering column.
var fixtureTables = []string{"users", "devices", "enrollments", "audit_sessions", "audit_denials", "audit_events", "ddns_state"}

// testKey is a canonical WireGuard public key, distinct per i.
func testKey(i int) string {
	var b [32]byte
	for j := range b {
		b[j] = byte(i*31 + j*7 + 1)
	}
	b[0], b[1] = byte(i), byte(i>>8)
	return base64.StdEncoding.EncodeToString(b[:])
}

func TestWriteFixture(t *testing.T) {
	if !*writeFixture {
		t.Skip("only with -write-fixture")
	}
	fixtureSchema(t)
	utcLocal(t)
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	clock := base
	s.now = func() time.Time { clock = clock.Add(1500 * time.Millisecond); return clock }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []struct{ name, email string }{{"alice", "alice@example.com"}, {"bob", ""}, {"carol", "carol@example.org"}, {"dave.o-k_1", ""}} {
		_, err := s.AddUser(ctx, u.name, u.email)
		must(err)
	}
	must(s.SetUserDisabled(ctx, "bob", true))
	exp := base.Add(90 * 24 * time.Hour)
	must(s.SetUserExpiry(ctx, "carol", &exp))
	p := store.Pool{Subnet: netip.MustParsePrefix("10.44.0.0/24"), Reserved: []netip.Addr{netip.MustParseAddr("10.44.0.1")}}
	add := func(user, name string, k int) {
		_, err := s.AddDevice(ctx, store.NewDevice{User: user, Name: name, PublicKey: testKey(k)}, p)
		must(err)
	}
	add("alice", "laptop", 1)
	add("alice", "phone", 2)
	add("bob", "pc", 3)
	add("carol", "ws1", 4)
	add("dave.o-k_1", "box", 5)
	_, err = s.RevokeDevice(ctx, "alice", "phone")
	must(err)
	add("alice", "phone", 6) // same name again, gets the freed address
	_, err = s.RekeyDevice(ctx, "carol", "ws1", testKey(7))
	must(err)
	dexp := base.Add(30 * 24 * time.Hour)
	must(s.SetDeviceExpiry(ctx, "dave.o-k_1", "box", &dexp))
	_, err = s.RevokeDevice(ctx, "bob", "pc")
	must(err)
	v6 := store.Pool{Subnet: netip.MustParsePrefix("fd44::/120"), Reserved: []netip.Addr{netip.MustParseAddr("fd44::1")}}
	_, err = s.AddDevice(ctx, store.NewDevice{User: "carol", Name: "v6", PublicKey: testKey(8)}, v6)
	must(err)

	must(s.CreateEnrollment(ctx, "hash-used", "alice", "tablet", base.Add(48*time.Hour)))
	must(s.CreateEnrollment(ctx, "hash-pending", "carol", "laptop", base.Add(48*time.Hour)))
	must(s.CreateEnrollment(ctx, "hash-expired", "dave.o-k_1", "old", base.Add(time.Minute)))
	_, err = s.ClaimEnrollment(ctx, "hash-used", "198.51.100.7")
	must(err)

	at := base.Add(time.Hour)
	must(s.WriteAudit(ctx, []store.AuditRecord{
		{Kind: store.AuditStart, Key: "1-1", At: at, User: "alice", Device: "laptop", Service: "codemeter", Proto: "tcp", Client: "10.44.0.2:50001", Rule: "rule 0", Reason: "allowed"},
		{Kind: store.AuditEnd, Key: "1-1", At: at.Add(90*time.Minute + 123*time.Microsecond), BytesUp: 12345, BytesDown: 678901, EndReason: "client closed"},
		{Kind: store.AuditStart, Key: "1-2", At: at.Add(time.Millisecond), User: "carol", Device: "ws1", Service: "codemeter", Proto: "tcp", Client: "10.44.0.5:40000", Rule: "rule 1", Reason: "allowed"},
		{Kind: store.AuditStart, Key: "1-3", At: at.Add(2 * time.Millisecond), User: "alice", Device: "phone", Service: "codemeter-udp", Proto: "udp", Client: "10.44.0.3:22351", Rule: "rule 0", Reason: "allowed"},
		{Kind: store.AuditDenial, At: at.Add(time.Second), User: "bob", Device: "pc", Service: "codemeter", Proto: "tcp", Client: "10.44.0.4:1234", Rule: "user disabled", Reason: "denied: user bob disabled"},
		{Kind: store.AuditDenial, At: at.Add(2 * time.Second), Service: "ssh", Proto: "tcp", Client: "10.44.0.9:5555", Rule: "default", Reason: "no rule"},
		{Kind: store.AuditEvent, At: at.Add(3 * time.Second), Actor: "local", Action: "user.add", Reason: "alice"},
		{Kind: store.AuditEvent, At: at.Add(4 * time.Second), Actor: "admin@example.com", Action: "device.revoke", Reason: "bob/pc: lost ünïcode ✓"},
	}))
	_, err = s.CloseOpenSessions(ctx, "", at.Add(3*time.Hour), "gateway restarted")
	must(err)
	must(s.WriteAudit(ctx, []store.AuditRecord{
		{Kind: store.AuditStart, Key: "2-1", At: at.Add(4 * time.Hour), User: "alice", Device: "laptop", Service: "codemeter", Proto: "tcp", Client: "10.44.0.2:50002", Rule: "rule 0", Reason: "allowed"},
	}))
	must(s.SetDDNSAddr(ctx, "rfc2136", "ipv4", netip.MustParseAddr("203.0.113.9"), base.Add(time.Hour)))
	must(s.SetDDNSAddr(ctx, "rfc2136", "ipv6", netip.MustParseAddr("2001:db8::9"), base.Add(time.Hour)))
	must(s.SetDDNSAddr(ctx, "cloudflare", "ipv4", netip.MustParseAddr("203.0.113.10"), base.Add(2*time.Hour)))

	dump, err := dumpTables(ctx, s.db, fixtureTables)
	must(err)
	// The same state as the API returned it, read at a fixed time.
	clock = base.Add(time.Hour)
	api, err := apiDump(ctx, s)
	must(err)
	// Checkpoint so the committed file is one self-contained database.
	_, err = s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	must(err)
	_, err = s.db.ExecContext(ctx, "VACUUM")
	must(err)
	must(s.Close())
	raw, err := os.ReadFile(filepath.Join(dir, FileName))
	must(err)
	must(os.MkdirAll("testdata", 0o755))
	must(os.WriteFile(fixtureDB, raw, 0o644))
	js, err := json.MarshalIndent(map[string]any{"rows": dump, "api": api}, "", "  ")
	must(err)
	must(os.WriteFile(fixtureJSON, append(js, '\n'), 0o644))
}

// fixtureSchema stops a fixture writer running on code newer than the
// fixture: a schema-7 file named v5 would test nothing.
func fixtureSchema(t *testing.T) {
	if SchemaVersion() != 5 {
		t.Fatalf("the fixtures are schema 5 as released; write them with that code (commit a08475a), not schema %d", SchemaVersion())
	}
}

// utcLocal makes the dumps' times read the same in every time zone.
func utcLocal(t *testing.T) {
	old := time.Local
	time.Local = time.UTC
	t.Cleanup(func() { time.Local = old })
}

// TestWriteBadKeyFixture writes a schema-5 database whose devices hold
// keys that schema-5 code accepted but are not canonical: a trailing
// newline, an embedded CR/LF, one that is no key at all, and one that is
// only a whitespace variant of another active device's key.
func TestWriteBadKeyFixture(t *testing.T) {
	if !*writeFixture {
		t.Skip("only with -write-fixture")
	}
	fixtureSchema(t)
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	clock := base
	s.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	if _, err := s.AddUser(ctx, "alice", ""); err != nil {
		t.Fatal(err)
	}
	p := store.Pool{Subnet: netip.MustParsePrefix("10.44.0.0/24"), Reserved: []netip.Addr{netip.MustParseAddr("10.44.0.1")}}
	k1, k2, k3 := testKey(1), testKey(2), testKey(3)
	for _, nd := range []store.NewDevice{
		{User: "alice", Name: "good", PublicKey: k1},
		{User: "alice", Name: "newline", PublicKey: k2 + "\n"},
		{User: "alice", Name: "crlf", PublicKey: k3[:20] + "\r\n" + k3[20:]},
		{User: "alice", Name: "garbage", PublicKey: "not-a-key"},
		{User: "alice", Name: "short", PublicKey: base64.StdEncoding.EncodeToString([]byte("sixteen bytes!!!"))},
		{User: "alice", Name: "twin", PublicKey: " " + k1 + "\n"},
	} {
		if _, err := s.AddDevice(ctx, nd, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, "VACUUM"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	raw, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fixtureBadKeys, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// apiDump is what the read methods return for the fixture's state.
func apiDump(ctx context.Context, s *Store) (map[string]any, error) {
	out := map[string]any{}
	var err error
	if out["users"], err = s.Users(ctx); err != nil {
		return nil, err
	}
	if out["devices_all"], err = s.Devices(ctx, true); err != nil {
		return nil, err
	}
	if out["devices_active"], err = s.Devices(ctx, false); err != nil {
		return nil, err
	}
	from, to := time.Unix(0, 0), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	if out["sessions"], err = s.AuditSessions(ctx, from, to); err != nil {
		return nil, err
	}
	if out["denials"], err = s.AuditDenials(ctx, from, to, 100); err != nil {
		return nil, err
	}
	if out["events"], err = s.AuditEvents(ctx, from, to, 100); err != nil {
		return nil, err
	}
	ddns := map[string]string{}
	for _, pf := range [][2]string{{"rfc2136", "ipv4"}, {"rfc2136", "ipv6"}, {"cloudflare", "ipv4"}, {"cloudflare", "ipv6"}} {
		a, err := s.DDNSAddr(ctx, pf[0], pf[1])
		if err != nil {
			return nil, err
		}
		ddns[pf[0]+"/"+pf[1]] = a.String()
	}
	out["ddns"] = ddns
	enr := map[string]string{}
	for _, h := range []string{"hash-used", "hash-pending", "hash-expired", "hash-none"} {
		e, err := s.PeekEnrollment(ctx, h)
		if err != nil {
			enr[h] = "error: " + err.Error()
		} else {
			enr[h] = fmt.Sprintf("%s/%s until %s", e.User, e.Device, e.Expires.UTC().Format(time.RFC3339))
		}
	}
	out["enrollments"] = enr
	return out, nil
}

// dumpTables reads every row of the given tables, in rowid order, as
// column -> value maps (int64, string or nil), independent of the Go types.
func dumpTables(ctx context.Context, db *sql.DB, tables []string) (map[string][]map[string]any, error) {
	out := map[string][]map[string]any{}
	for _, tb := range tables {
		rows, err := db.QueryContext(ctx, fmt.Sprintf("SELECT * FROM %s ORDER BY rowid", tb))
		if err != nil {
			return nil, fmt.Errorf("dump %s: %w", tb, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			rows.Close()
			return nil, err
		}
		out[tb] = []map[string]any{}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, err
			}
			m := map[string]any{}
			for i, c := range cols {
				switch v := vals[i].(type) {
				case []byte:
					m[c] = string(v)
				case int64, string, nil:
					m[c] = v
				default:
					rows.Close()
					return nil, fmt.Errorf("dump %s.%s: unexpected %T", tb, c, v)
				}
			}
			out[tb] = append(out[tb], m)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// normalise makes a dump comparable with one read back from JSON.
func normalise(t *testing.T, d any) any {
	t.Helper()
	js, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// openCopy copies a fixture database into a fresh state directory and
// opens it (migrating it).
func openCopy(t *testing.T, fixture string) *Store {
	t.Helper()
	raw, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return open(t, dir)
}

// TestFixtureSurvives opens a database written by schema-5 code and
// checks that every row and every value the API returns survived the
// migration unchanged.
func TestFixtureSurvives(t *testing.T) {
	utcLocal(t)
	ctx := context.Background()
	raw, err := os.ReadFile(fixtureJSON)
	if err != nil {
		t.Fatal(err)
	}
	var golden map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&golden); err != nil {
		t.Fatal(err)
	}
	s := openCopy(t, fixtureDB)
	if v, err := s.Version(ctx); err != nil || v != SchemaVersion() {
		t.Fatalf("version %d %v, want %d", v, err, SchemaVersion())
	}
	rows, err := dumpTables(ctx, s.db, fixtureTables)
	if err != nil {
		t.Fatal(err)
	}
	want := golden["rows"].(map[string]any)
	got := normalise(t, rows).(map[string]any)
	// Migration 8 added devices.pending_until: NULL (not pending) for
	// every device written before it.
	for _, r := range got["devices"].([]any) {
		row := r.(map[string]any)
		if p, ok := row["pending_until"]; !ok || p != nil {
			t.Errorf("device %v: pending_until %v after migration 8, want NULL", row["name"], p)
		}
		delete(row, "pending_until")
	}
	for _, tb := range fixtureTables {
		w, g := want[tb].([]any), got[tb].([]any)
		if len(w) == 0 {
			t.Errorf("golden %s is empty", tb)
		}
		if !reflect.DeepEqual(w, g) {
			t.Errorf("table %s changed:\n got %v\nwant %v", tb, g, w)
		}
	}
	s.now = func() time.Time { return time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC) }
	api, err := apiDump(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	wantAPI := golden["api"].(map[string]any)
	gotAPI := normalise(t, api).(map[string]any)
	for k, w := range wantAPI {
		if !reflect.DeepEqual(w, gotAPI[k]) {
			t.Errorf("API %s changed:\n got %v\nwant %v", k, gotAPI[k], w)
		}
	}
	var ok string
	if err := s.db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity: %q %v", ok, err)
	}
}
