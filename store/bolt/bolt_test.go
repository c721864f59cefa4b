package bolt_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/internal/testnet"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/bolt"
	"github.com/licgate/licgate/store/storetest"
)

func openBolt(t *testing.T, dir string) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestBoltContract runs the backend-agnostic suite against bbolt.
func TestBoltContract(t *testing.T) {
	if bolt.FileName != "licgate.bolt" {
		t.Fatalf("FileName %q: this is not the bbolt build", bolt.FileName)
	}
	storetest.Run(t, func(t *testing.T) store.Backend { return openBolt(t, t.TempDir()) })
}

// TestBoltReopen: everything committed is there after a close, and
// epochs keep growing.
func TestBoltReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openBolt(t, dir)
	if _, err := s.AddUser(ctx, "alice", ""); err != nil {
		t.Fatal(err)
	}
	d, err := s.AddDevice(ctx, store.NewDevice{User: "alice", Name: "laptop", PublicKey: storetest.Key(1)}, storetest.Pool)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	if err := s.WriteAudit(ctx, []store.AuditRecord{{Kind: store.AuditStart, Key: "k", At: at, User: "alice", Proto: "tcp"}}); err != nil {
		t.Fatal(err)
	}
	e1, err := s.NextSessionEpoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openBolt(t, dir)
	got, err := s.Device(ctx, "alice", "laptop")
	if err != nil || got.Address != d.Address || got.ID != d.ID {
		t.Fatalf("after reopen: %+v %v, want %+v", got, err, d)
	}
	if e2, err := s.NextSessionEpoch(ctx); err != nil || e2 != e1+1 {
		t.Errorf("epoch after reopen %d %v, want %d", e2, err, e1+1)
	}
	if n, err := s.CloseOpenSessions(ctx, "", at.Add(time.Second), "restart"); err != nil || n != 1 {
		t.Errorf("open session after reopen: %d %v", n, err)
	}
	if _, err := s.AddDevice(ctx, store.NewDevice{User: "alice", Name: "laptop", PublicKey: storetest.Key(2)}, storetest.Pool); !errors.Is(err, store.ErrExists) {
		t.Errorf("name index lost on reopen: %v", err)
	}
}

// TestBoltRefusesSQLiteState: a state directory of the full build is
// not silently started empty.
func TestBoltRefusesSQLiteState(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "licgate.db"), []byte("SQLite format 3\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := bolt.Open(context.Background(), dir)
	if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "licgate.db") {
		t.Fatalf("got %v, want ErrInvalid naming licgate.db", err)
	}
	if _, err := os.Stat(filepath.Join(dir, bolt.FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused Open created %s: %v", bolt.FileName, err)
	}
}

func TestBoltStateDirIsAFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "state")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := bolt.Open(context.Background(), f)
	if !errors.Is(err, store.ErrStateDir) || !strings.Contains(err.Error(), f) {
		t.Fatalf("got %v, want ErrStateDir naming %s", err, f)
	}
}

// TestBoltCopyRoundTrip: store.Copy works from and into the bbolt
// backend (a router's state can move to PostgreSQL), ids kept.
func TestBoltCopyRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := openBolt(t, t.TempDir())
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := src.AddUser(ctx, "alice", "a@x")
	must(err)
	_, err = src.AddUser(ctx, "bob", "")
	must(err)
	exp := time.Now().Add(time.Hour)
	must(src.SetUserExpiry(ctx, "bob", &exp))
	_, err = src.AddDevice(ctx, store.NewDevice{User: "bob", Name: "pc", PublicKey: storetest.Key(1)}, storetest.Pool)
	must(err)
	_, err = src.RevokeDevice(ctx, "bob", "pc")
	must(err)
	_, err = src.AddDevice(ctx, store.NewDevice{User: "alice", Name: "pc", PublicKey: storetest.Key(2)}, storetest.Pool)
	must(err)
	must(src.CreateEnrollment(ctx, "h2", "alice", "b", exp))
	must(src.CreateEnrollment(ctx, "h1", "alice", "a", exp))
	_, err = src.ClaimEnrollment(ctx, "h1", "192.0.2.1")
	must(err)
	now := time.Now()
	must(src.WriteAudit(ctx, []store.AuditRecord{
		{Kind: store.AuditStart, Key: "s2", At: now, User: "alice", Proto: "tcp"},
		{Kind: store.AuditStart, Key: "s1", At: now.Add(-time.Hour), User: "bob", Proto: "tcp"},
		{Kind: store.AuditEnd, Key: "s1", At: now, BytesUp: 5, EndReason: "done"},
		{Kind: store.AuditDenial, At: now, User: "eve", Reason: "no"},
		{Kind: store.AuditEvent, At: now, Actor: "a", Action: "x", Reason: "d"},
	}))
	must(src.SetDDNSAddr(ctx, "p", "ipv4", netip.MustParseAddr("192.0.2.9"), now))
	must(src.SetDDNSHold(ctx, "p", store.DDNSHold{Fatal: true, Reason: "r", BackoffUntil: exp}))
	_, err = src.NextSessionEpoch(ctx)
	must(err)

	dst := openBolt(t, t.TempDir())
	n, err := store.Copy(ctx, dst, src)
	if err != nil {
		t.Fatal(err)
	}
	if n.Users != 2 || n.Devices != 2 || n.Enrollments != 2 || n.Sessions != 2 || n.Denials != 1 || n.Events != 1 || n.DDNS != 1 || n.Holds != 1 {
		t.Errorf("counts %+v", n)
	}
	if _, err := store.Copy(ctx, dst, src); !errors.Is(err, store.ErrNotEmpty) {
		t.Errorf("copy into non-empty: %v", err)
	}
	// The copy is a working store: indexes and sequences came along.
	if _, err := dst.AddDevice(ctx, store.NewDevice{User: "alice", Name: "pc", PublicKey: storetest.Key(3)}, storetest.Pool); !errors.Is(err, store.ErrExists) {
		t.Errorf("active name after copy: %v", err)
	}
	// 10.44.0.2, revoked, is still in quarantine in the copy.
	d, err := dst.AddDevice(ctx, store.NewDevice{User: "bob", Name: "pc", PublicKey: storetest.Key(1)}, storetest.Pool)
	if err != nil || d.ID != 3 || d.Address != netip.MustParseAddr("10.44.0.4") {
		t.Errorf("new device after copy: %+v %v", d, err)
	}
	if e, err := dst.NextSessionEpoch(ctx); err != nil || e != 2 {
		t.Errorf("epoch after copy %d %v", e, err)
	}
	if ss, err := dst.AuditSessions(ctx, now.Add(-2*time.Hour), now.Add(time.Hour)); err != nil || len(ss) != 2 || ss[0].Key != "s1" || ss[1].End != nil {
		t.Errorf("sessions after copy %+v %v", ss, err)
	}
}

// The read-only and full cases need mounts: the test re-runs itself in a
// private mount namespace (unshare -m) so nothing outlives it.
func inMountNamespace(t *testing.T, name string) (dir string, child bool) {
	if d := os.Getenv("LICGATE_BOLT_NS_DIR"); d != "" {
		return d, true
	}
	if os.Geteuid() != 0 {
		testnet.Missing(t, "%s needs root for mounts", name)
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		testnet.Missing(t, "%s needs unshare(1) (util-linux)", name)
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "--", os.Args[0], "-test.run=^"+name+"$", "-test.v")
	cmd.Env = append(os.Environ(), "LICGATE_BOLT_NS_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("in a mount namespace:\n%s", out)
	if err != nil {
		t.Fatalf("%s in a mount namespace: %v", name, err)
	}
	return "", false
}

func mount(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
		t.Fatalf("mount %v: %v: %s", args, err, out)
	}
}

func TestBoltStateDirReadOnly(t *testing.T) {
	base, child := inMountNamespace(t, "TestBoltStateDirReadOnly")
	if !child {
		return
	}
	dir := filepath.Join(base, "state")
	s, err := bolt.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	mount(t, "--bind", dir, dir)
	mount(t, "-o", "remount,bind,ro", dir)
	_, err = bolt.Open(context.Background(), dir)
	if !errors.Is(err, store.ErrStateDir) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("got %v, want ErrStateDir naming %s", err, dir)
	}
	t.Log(err)
}

func TestBoltStateDirFull(t *testing.T) {
	base, child := inMountNamespace(t, "TestBoltStateDirFull")
	if !child {
		return
	}
	ctx := context.Background()
	// Room to open, then the disk fills: writes fail naming the directory,
	// and what was committed before stays readable.
	dir := filepath.Join(base, "small")
	os.Mkdir(dir, 0o700)
	mount(t, "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir)
	s, err := bolt.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AddUser(ctx, "before", ""); err != nil {
		t.Fatal(err)
	}
	filler, _ := os.Create(filepath.Join(dir, "filler"))
	for {
		if _, err := filler.Write(make([]byte, 4096)); err != nil {
			break
		}
	}
	filler.Close()
	var werr error
	for i := 0; i < 2000 && werr == nil; i++ {
		werr = s.WriteAudit(ctx, []store.AuditRecord{{Kind: store.AuditEvent, At: time.Now(), Actor: "t", Action: "fill", Reason: strings.Repeat("x", 2000)}})
	}
	if !errors.Is(werr, store.ErrStateDir) || !strings.Contains(werr.Error(), dir+" is full") {
		t.Fatalf("full: got %v, want ErrStateDir naming %s", werr, dir)
	}
	t.Log(werr)
	if _, err := s.User(ctx, "before"); err != nil {
		t.Fatalf("committed row after disk full: %v", err)
	}
}
