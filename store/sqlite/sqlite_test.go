package sqlite

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/licgate/licgate/store"
)

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var pool = store.Pool{Subnet: netip.MustParsePrefix("10.44.0.0/24"), Reserved: []netip.Addr{netip.MustParseAddr("10.44.0.1")}}

func TestMigrateFromEmptyAndReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	v, err := s.Version(ctx)
	if err != nil || v != SchemaVersion() {
		t.Fatalf("version %d %v, want %d", v, err, SchemaVersion())
	}
	if _, err := s.AddUser(ctx, "alice", "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := open(t, dir) // re-open: migrations must not run twice
	u, err := s2.User(ctx, "alice")
	if err != nil || u.Email != "alice@example.com" {
		t.Fatalf("after reopen: %+v %v", u, err)
	}
	// A database from a newer licgate is refused, not damaged.
	if _, err := s2.db.Exec(fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion()+1)); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if _, err := Open(ctx, dir); err == nil {
		t.Fatal("opened a database newer than the code")
	}
}

func TestUserErrors(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	if _, err := s.AddUser(ctx, "Alice", ""); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("upper-case name: %v", err)
	}
	if _, err := s.AddUser(ctx, "bob", "not-an-email"); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad email: %v", err)
	}
	s.AddUser(ctx, "bob", "")
	if _, err := s.AddUser(ctx, "bob", ""); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate: %v", err)
	}
	if err := s.SetUserDisabled(ctx, "nobody", true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("disable unknown: %v", err)
	}
	if _, err := s.AddDevice(ctx, store.NewDevice{User: "nobody", Name: "pc", PublicKey: testKey(1)}, pool); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("device for unknown user: %v", err)
	}
}

func TestAddressAllocationNeverCollides(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if _, err := s.AddUser(ctx, fmt.Sprintf("u%d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	const n = 120
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[netip.Addr]string{}
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			d, err := s.AddDevice(ctx, store.NewDevice{User: fmt.Sprintf("u%d", i%10), Name: fmt.Sprintf("d%d", i), PublicKey: testKey(i)}, pool)
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if other, dup := got[d.Address]; dup {
				errs <- fmt.Errorf("%s given to %s and %s", d.Address, other, d.Name)
			}
			got[d.Address] = d.Name
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for a := range got {
		if !pool.Subnet.Contains(a) || a == netip.MustParseAddr("10.44.0.1") || a == netip.MustParseAddr("10.44.0.0") {
			t.Errorf("bad address %s", a)
		}
	}
	// Revoked addresses return to the pool; the lowest free one is reused.
	r, err := s.RevokeDevice(ctx, "u3", "d3")
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.AddDevice(ctx, store.NewDevice{User: "u3", Name: "d3", PublicKey: testKey(500)}, pool)
	if err != nil {
		t.Fatal(err)
	}
	if d.Address != r.Address {
		t.Fatalf("re-added device got %s, want the freed %s", d.Address, r.Address)
	}
	// Duplicate name and duplicate key are refused.
	if _, err := s.AddDevice(ctx, store.NewDevice{User: "u3", Name: "d3", PublicKey: testKey(501)}, pool); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate device name: %v", err)
	}
	if _, err := s.AddDevice(ctx, store.NewDevice{User: "u3", Name: "d999", PublicKey: testKey(500)}, pool); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate key: %v", err)
	}
}

func TestPoolExhaustion(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	s.AddUser(ctx, "a", "")
	small := store.Pool{Subnet: netip.MustParsePrefix("10.9.0.0/29"), Reserved: []netip.Addr{netip.MustParseAddr("10.9.0.1")}}
	// /29: .1-.6 usable, .1 reserved: 5 devices.
	for i := 0; i < 5; i++ {
		d, err := s.AddDevice(ctx, store.NewDevice{User: "a", Name: fmt.Sprintf("d%d", i), PublicKey: testKey(i)}, small)
		if err != nil {
			t.Fatal(err)
		}
		if want := netip.AddrFrom4([4]byte{10, 9, 0, byte(2 + i)}); d.Address != want {
			t.Fatalf("device %d got %s, want %s", i, d.Address, want)
		}
	}
	if _, err := s.AddDevice(ctx, store.NewDevice{User: "a", Name: "x", PublicKey: testKey(100)}, small); !errors.Is(err, store.ErrExhausted) {
		t.Fatalf("sixth device: %v", err)
	}
	v6 := store.Pool{Subnet: netip.MustParsePrefix("fd44::/120"), Reserved: []netip.Addr{netip.MustParseAddr("fd44::1")}}
	d, err := s.AddDevice(ctx, store.NewDevice{User: "a", Name: "six", PublicKey: testKey(101)}, v6)
	if err != nil || d.Address != netip.MustParseAddr("fd44::2") {
		t.Fatalf("v6: %v %v", d.Address, err)
	}
}

// TestCrashMidWrite kills a writer process in the middle of a transaction
// and checks that everything committed before survives and nothing of the
// open transaction does.
func TestCrashMidWrite(t *testing.T) {
	if dir := os.Getenv("LICGATE_STORE_CRASH_DIR"); dir != "" {
		crashWriter(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashMidWrite$")
	cmd.Env = append(os.Environ(), "LICGATE_STORE_CRASH_DIR="+dir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 42 {
		t.Fatalf("writer did not die as planned: %v\n%s", err, out)
	}
	s := open(t, dir)
	var ok string
	if err := s.db.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity: %q %v", ok, err)
	}
	us, err := s.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 50 {
		t.Fatalf("after crash: %d users, want the 50 committed", len(us))
	}
	for _, u := range us {
		if u.Name == "uncommitted" {
			t.Fatal("a row of the open transaction survived")
		}
	}
}

func crashWriter(dir string) {
	s, err := Open(context.Background(), dir)
	if err != nil {
		os.Exit(3)
	}
	for i := 0; i < 50; i++ {
		if _, err := s.AddUser(context.Background(), fmt.Sprintf("user%02d", i), ""); err != nil {
			os.Exit(4)
		}
	}
	tx, err := s.db.Begin()
	if err != nil {
		os.Exit(5)
	}
	if _, err := tx.Exec(`INSERT INTO users(name, created_at) VALUES ('uncommitted', 0)`); err != nil {
		os.Exit(6)
	}
	for i := 0; i < 2000; i++ {
		tx.Exec(`INSERT INTO users(name, created_at) VALUES (?, 0)`, fmt.Sprintf("bulk%d", i))
	}
	os.Exit(42) // no commit, no close: as a power cut or kill -9
}

func TestAuditWriteQueryPrune(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	old := time.Now().Add(-500 * 24 * time.Hour)
	now := time.Now()
	err := s.WriteAudit(ctx, []store.AuditRecord{
		{Kind: store.AuditStart, Key: "a-1", At: old, User: "alice", Device: "laptop", Service: "codemeter", Proto: "tcp", Client: "10.44.0.2:1", Rule: "rule 0", Reason: "allowed"},
		{Kind: store.AuditEnd, Key: "a-1", At: old.Add(time.Hour), BytesUp: 10, BytesDown: 20, EndReason: "client closed"},
		{Kind: store.AuditStart, Key: "a-2", At: now, User: "bob", Device: "pc", Service: "codemeter", Proto: "tcp", Client: "10.44.0.3:1", Rule: "rule 0", Reason: "allowed"},
		{Kind: store.AuditDenial, At: old, User: "eve", Service: "codemeter", Proto: "tcp", Client: "10.44.0.9:1", Rule: "default", Reason: "no"},
		{Kind: store.AuditDenial, At: now, User: "eve", Service: "codemeter", Proto: "tcp", Client: "10.44.0.9:1", Rule: "default", Reason: "no"},
		{Kind: store.AuditEvent, At: old, Actor: "local", Action: "user.add", Reason: "eve"},
	})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := s.AuditSessions(ctx, old.Add(-time.Minute), now.Add(time.Minute))
	if err != nil || len(rows) != 2 || rows[0].EndReason != "client closed" || rows[0].BytesDown != 20 || rows[1].End != nil {
		t.Fatalf("sessions: %+v %v", rows, err)
	}
	// A crash leaves bob's session open; the next start closes it.
	if n, err := s.CloseOpenSessions(ctx, "", now.Add(time.Minute), "gateway restarted"); err != nil || n != 1 {
		t.Fatalf("close open: %d %v", n, err)
	}
	n, err := s.PruneAudit(ctx, time.Now().Add(-400*24*time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("pruned %d (%v), want 3 old records", n, err)
	}
	rows, _ = s.AuditSessions(ctx, old.Add(-time.Minute), now.Add(time.Hour))
	ds, _ := s.AuditDenials(ctx, old.Add(-time.Minute), now.Add(time.Minute), 10)
	if len(rows) != 1 || rows[0].User != "bob" || rows[0].EndReason != "gateway restarted" || len(ds) != 1 {
		t.Fatalf("after prune: %+v %+v", rows, ds)
	}
	if err := s.WriteAudit(ctx, []store.AuditRecord{{Kind: 99}}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad kind: %v", err)
	}
}

func TestAddDevicesBulk(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	s.AddUser(ctx, "a", "")
	s.AddDevice(ctx, store.NewDevice{User: "a", Name: "first", PublicKey: testKey(1000)}, pool)
	var nds []store.NewDevice
	for i := 0; i < 100; i++ {
		nds = append(nds, store.NewDevice{User: "a", Name: fmt.Sprintf("d%d", i), PublicKey: testKey(i)})
	}
	ds, err := s.AddDevices(ctx, nds, pool)
	if err != nil || len(ds) != 100 {
		t.Fatalf("%d %v", len(ds), err)
	}
	seen := map[netip.Addr]bool{netip.MustParseAddr("10.44.0.2"): true} // "first"
	for _, d := range ds {
		if seen[d.Address] {
			t.Fatalf("address %s given twice", d.Address)
		}
		seen[d.Address] = true
	}
	// All or nothing: a duplicate name rolls the whole batch back.
	if _, err := s.AddDevices(ctx, []store.NewDevice{{User: "a", Name: "new1", PublicKey: testKey(1001)}, {User: "a", Name: "d3", PublicKey: testKey(1002)}}, pool); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate in batch: %v", err)
	}
	if all, _ := s.Devices(ctx, false); len(all) != 101 {
		t.Fatalf("partial batch committed: %d devices", len(all))
	}
}

func TestEnrollmentSingleUseAndExpiry(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	s.AddUser(ctx, "alice", "")
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	if err := s.CreateEnrollment(ctx, "h1", "alice", "laptop", now.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEnrollment(ctx, "h2", "nobody", "laptop", now.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("link for unknown user: %v", err)
	}
	e, err := s.ClaimEnrollment(ctx, "h1", "198.51.100.7")
	if err != nil || e.User != "alice" || e.Device != "laptop" {
		t.Fatalf("claim: %+v %v", e, err)
	}
	if _, err := s.ClaimEnrollment(ctx, "h1", "198.51.100.7"); !errors.Is(err, store.ErrUsed) {
		t.Fatalf("second claim: %v", err)
	}
	s.CreateEnrollment(ctx, "h3", "alice", "phone", now.Add(time.Hour))
	now = now.Add(time.Hour)
	if _, err := s.ClaimEnrollment(ctx, "h3", "x"); !errors.Is(err, store.ErrExpired) {
		t.Fatalf("expired claim: %v", err)
	}
	if _, err := s.ClaimEnrollment(ctx, "nope", "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
}
