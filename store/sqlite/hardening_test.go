package sqlite

import (
	"context"
	"encoding/base64"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licgate/licgate/internal/testnet"
	"github.com/licgate/licgate/store"
)

// TestBadKeyFixtureMigrates opens a schema-5 database (written by the
// old code) holding non-canonical keys: decodable ones are rewritten,
// the rest revoked, and both recorded in the audit log.
func TestBadKeyFixtureMigrates(t *testing.T) {
	ctx := context.Background()
	s := openCopy(t, fixtureBadKeys)
	ds, err := s.Devices(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	type state struct {
		key     string
		revoked bool
	}
	got := map[string]state{}
	for _, d := range ds {
		got[d.Name] = state{d.PublicKey, d.Revoked != nil}
	}
	short := base64.StdEncoding.EncodeToString([]byte("sixteen bytes!!!"))
	want := map[string]state{
		"good":    {testKey(1), false},
		"newline": {testKey(2), false},
		"crlf":    {testKey(3), false},
		"garbage": {"not-a-key", true}, // no key at all: revoked, kept as it was
		"short":   {short, true},       // 16 bytes: revoked
		"twin":    {testKey(1), true},  // "good"'s key written differently: revoked, rewritten
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: got %+v, want %+v", name, got[name], w)
		}
	}
	active, _ := s.Devices(ctx, false)
	for _, d := range active {
		if err := store.CheckKey(d.PublicKey); err != nil {
			t.Errorf("active device %s kept a non-canonical key: %v", d.Name, err)
		}
	}
	evs, err := s.AuditEvents(ctx, time.Unix(0, 0), time.Now().Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range evs {
		if e.Actor == "licgate" {
			count[e.Action]++
		}
	}
	if count["device.revoke"] != 3 || count["device.key-canonicalised"] != 2 {
		t.Errorf("audit events %v, want 3 revocations and 2 rewrites", count)
	}
	// The rewritten key is a real key now: adding it again is a duplicate.
	if _, err := s.AddDevice(ctx, store.NewDevice{User: "alice", Name: "again", PublicKey: testKey(2)}, pool); !errors.Is(err, store.ErrExists) {
		t.Errorf("re-adding the canonicalised key: %v", err)
	}
}

func TestKeysMustBeCanonical(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	s.AddUser(ctx, "a", "")
	k := testKey(7)
	raw, _ := base64.StdEncoding.DecodeString(k)
	for _, bad := range []string{
		"",
		k + "\n",
		" " + k,
		k[:20] + "\r\n" + k[20:],
		strings.TrimRight(k, "="),              // no padding
		base64.URLEncoding.EncodeToString(raw), // URL alphabet (differs only if it has + or /)
		base64.StdEncoding.EncodeToString(raw[:31]),       // 31 bytes
		base64.StdEncoding.EncodeToString(append(raw, 0)), // 33 bytes
		k[:43] + "B", // non-zero padding bits
	} {
		if bad == k {
			continue
		}
		if _, err := s.AddDevice(ctx, store.NewDevice{User: "a", Name: "d", PublicKey: bad}, pool); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("AddDevice(%q): %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := s.AddDevice(ctx, store.NewDevice{User: "a", Name: "d", PublicKey: k}, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RekeyDevice(ctx, "a", "d", testKey(8)+"\n"); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("rekey with newline: %v", err)
	}
	if _, err := s.AddDevices(ctx, []store.NewDevice{{User: "a", Name: "e", PublicKey: "x"}}, pool); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bulk with bad key: %v", err)
	}
	if d, err := s.RekeyDevice(ctx, "a", "d", testKey(8)); err != nil || d.PublicKey != testKey(8) {
		t.Errorf("rekey: %+v %v", d, err)
	}
}

// TestClaimAndAddDeviceOneTransaction: a device that cannot be created
// leaves the link unused, so the user can try again.
func TestClaimAndAddDeviceOneTransaction(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	s.AddUser(ctx, "alice", "")
	s.AddUser(ctx, "bob", "")
	if _, err := s.AddDevice(ctx, store.NewDevice{User: "bob", Name: "pc", PublicKey: testKey(1)}, pool); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEnrollment(ctx, "h", "alice", "laptop", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	full := store.Pool{Subnet: netip.MustParsePrefix("10.44.0.0/30"), Reserved: []netip.Addr{netip.MustParseAddr("10.44.0.1"), netip.MustParseAddr("10.44.0.2")}}
	for _, c := range []struct {
		nd   store.NewDevice
		pool store.Pool
		want error
	}{
		{store.NewDevice{PublicKey: "not a key"}, pool, store.ErrInvalid},
		{store.NewDevice{PublicKey: testKey(1)}, pool, store.ErrExists}, // bob's key
		{store.NewDevice{PublicKey: testKey(2)}, full, store.ErrExhausted},
		{store.NewDevice{User: "bob", PublicKey: testKey(2)}, pool, store.ErrInvalid}, // not the link's user
		{store.NewDevice{Name: "phone", PublicKey: testKey(2)}, pool, store.ErrInvalid},
	} {
		if _, _, err := s.ClaimEnrollmentAndAddDevice(ctx, "h", "198.51.100.7", c.nd, c.pool); !errors.Is(err, c.want) {
			t.Errorf("%+v: %v, want %v", c.nd, err, c.want)
		}
		if _, err := s.PeekEnrollment(ctx, "h"); err != nil {
			t.Fatalf("after failed create (%+v) the link is spent: %v", c.nd, err)
		}
	}
	e, d, err := s.ClaimEnrollmentAndAddDevice(ctx, "h", "198.51.100.7", store.NewDevice{PublicKey: testKey(2)}, pool)
	if err != nil || e.User != "alice" || d.User != "alice" || d.Name != "laptop" || !d.Address.IsValid() {
		t.Fatalf("claim: %+v %+v %v", e, d, err)
	}
	if _, err := s.Device(ctx, "alice", "laptop"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ClaimEnrollmentAndAddDevice(ctx, "h", "x", store.NewDevice{PublicKey: testKey(3)}, pool); !errors.Is(err, store.ErrUsed) {
		t.Fatalf("second claim: %v", err)
	}
	if _, _, err := s.ClaimEnrollmentAndAddDevice(ctx, "nope", "x", store.NewDevice{PublicKey: testKey(3)}, pool); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown link: %v", err)
	}
}

func TestSessionEpochGrowsAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	seen := map[uint32]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := s.NextSessionEpoch(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || e == 0 || seen[e] {
				t.Errorf("epoch %d %v (seen %v)", e, err, seen)
			}
			seen[e] = true
		}()
	}
	wg.Wait()
	s.Close()
	s = open(t, dir)
	e, err := s.NextSessionEpoch(ctx)
	if err != nil || e != 9 {
		t.Fatalf("after restart: epoch %d %v, want 9", e, err)
	}
	// The end of the range is an error, not a wrap to a used epoch.
	if _, err := s.db.Exec(`UPDATE counters SET value = 4294967295 WHERE name = 'session_epoch'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NextSessionEpoch(ctx); !errors.Is(err, store.ErrExhausted) {
		t.Fatalf("past 2^32-1: %v", err)
	}
}

func TestDDNSHoldPersists(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	if h, err := s.DDNSHold(ctx, "rfc2136"); err != nil || !h.IsZero() {
		t.Fatalf("no hold: %+v %v", h, err)
	}
	at := time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return at }
	want := store.DDNSHold{Fatal: true, Reason: "NOTAUTH: bad TSIG key", Fingerprint: "sha256:abc"}
	if err := s.SetDDNSHold(ctx, "rfc2136", want); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDDNSHold(ctx, "cloudflare", store.DDNSHold{Reason: "429", BackoffUntil: at.Add(10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir)
	h, err := s.DDNSHold(ctx, "rfc2136")
	want.Updated = at
	if err != nil || !h.Updated.Equal(at) || h.Fatal != want.Fatal || h.Reason != want.Reason || h.Fingerprint != want.Fingerprint || !h.BackoffUntil.IsZero() {
		t.Fatalf("after restart: %+v %v, want %+v", h, err, want)
	}
	h, err = s.DDNSHold(ctx, "cloudflare")
	if err != nil || h.Fatal || !h.BackoffUntil.Equal(at.Add(10*time.Minute)) {
		t.Fatalf("back-off after restart: %+v %v", h, err)
	}
	if err := s.ClearDDNSHold(ctx, "rfc2136"); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearDDNSHold(ctx, "never-held"); err != nil {
		t.Fatal(err)
	}
	if h, err := s.DDNSHold(ctx, "rfc2136"); err != nil || !h.IsZero() {
		t.Fatalf("after clear: %+v %v", h, err)
	}
}

func TestClosedStore(t *testing.T) {
	s, err := Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	ctx := context.Background()
	if _, err := s.Users(ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Users after Close: %v", err)
	}
	if _, err := s.AddUser(ctx, "a", ""); !errors.Is(err, store.ErrClosed) {
		t.Errorf("AddUser after Close: %v", err)
	}
	if _, err := s.User(ctx, "a"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("User after Close: %v", err)
	}
	if _, err := s.NextSessionEpoch(ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("NextSessionEpoch after Close: %v", err)
	}
}

func TestStateDirIsAFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "state")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), f)
	if !errors.Is(err, store.ErrStateDir) || !strings.Contains(err.Error(), f) {
		t.Fatalf("got %v, want ErrStateDir naming %s", err, f)
	}
}

// The read-only and full cases need mounts: the test re-runs itself in a
// private mount namespace (unshare -m) so nothing outlives it.
func inMountNamespace(t *testing.T, name string) (dir string, child bool) {
	if d := os.Getenv("LICGATE_STORE_NS_DIR"); d != "" {
		return d, true
	}
	if os.Geteuid() != 0 {
		testnet.Missing(t, "%s needs root for mounts", name)
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		testnet.Missing(t, "%s needs unshare(1) (util-linux)", name)
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "--", os.Args[0], "-test.run=^"+name+"$", "-test.v")
	cmd.Env = append(os.Environ(), "LICGATE_STORE_NS_DIR="+t.TempDir())
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

func TestStateDirReadOnly(t *testing.T) {
	base, child := inMountNamespace(t, "TestStateDirReadOnly")
	if !child {
		return
	}
	dir := filepath.Join(base, "state")
	// A database from a writable time, then the directory goes read-only.
	s, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	mount(t, "--bind", dir, dir)
	mount(t, "-o", "remount,bind,ro", dir)
	_, err = Open(context.Background(), dir)
	if !errors.Is(err, store.ErrStateDir) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("got %v, want ErrStateDir naming %s", err, dir)
	}
	t.Log(err)
}

func TestStateDirFull(t *testing.T) {
	base, child := inMountNamespace(t, "TestStateDirFull")
	if !child {
		return
	}
	ctx := context.Background()
	// Too small for the schema: Open fails naming the directory.
	tiny := filepath.Join(base, "tiny")
	os.Mkdir(tiny, 0o700)
	mount(t, "-t", "tmpfs", "-o", "size=64k", "tmpfs", tiny)
	_, err := Open(ctx, tiny)
	if !errors.Is(err, store.ErrStateDir) || !strings.Contains(err.Error(), tiny+" is full") {
		t.Fatalf("tiny: got %v, want ErrStateDir naming %s", err, tiny)
	}
	t.Log(err)
	// Room to open, then the disk fills: writes fail naming the directory,
	// and what was committed before stays readable.
	dir := filepath.Join(base, "small")
	os.Mkdir(dir, 0o700)
	mount(t, "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir)
	s, err := Open(ctx, dir)
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
	for i := 0; i < 200 && werr == nil; i++ {
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

// TestBackendListsEveryMethod keeps Backend and *Store in step: a method
// added to Store without a contract in Backend (or in store.Exporter and
// store.Importer, which Copy uses) fails here.
func TestBackendListsEveryMethod(t *testing.T) {
	iface := reflect.TypeOf((*store.Backend)(nil)).Elem()
	st := reflect.TypeOf((*Store)(nil))
	copier := map[string]bool{"Export": true, "Import": true}
	for i := 0; i < st.NumMethod(); i++ {
		if _, ok := iface.MethodByName(st.Method(i).Name); !ok && !copier[st.Method(i).Name] {
			t.Errorf("(*Store).%s is not in Backend", st.Method(i).Name)
		}
	}
}

// TestDurableSettings: the DSN's pragmas reach the driver (they are
// spelled per driver), so every commit is durable.
func TestDurableSettings(t *testing.T) {
	s := open(t, t.TempDir())
	for _, c := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
	} {
		var got string
		if err := s.db.QueryRow("PRAGMA " + c.pragma).Scan(&got); err != nil || got != c.want {
			t.Errorf("PRAGMA %s = %q (%v), want %q", c.pragma, got, err, c.want)
		}
	}
}
