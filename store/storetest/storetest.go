package storetest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licgate/licgate/store"
)

// Open returns a fresh, empty backend for one subtest.
type Open func(t *testing.T) store.Backend

// Key is a canonical WireGuard public key, distinct per i.
func Key(i int) string {
	var b [32]byte
	for j := range b {
		b[j] = byte(i*31 + j*7 + 1)
	}
	b[0], b[1] = byte(i), byte(i>>8)
	return base64.StdEncoding.EncodeToString(b[:])
}

// Pool is the address pool the suite allocates from, with the default
// quarantine of revoked addresses.
var Pool = store.Pool{Subnet: netip.MustParsePrefix("10.44.0.0/24"), Reserved: []netip.Addr{netip.MustParseAddr("10.44.0.1")},
	Quarantine: 720 * time.Hour}

// Run runs every case against backends from open.
func Run(t *testing.T, open Open) {
	cases := []struct {
		name string
		fn   func(t *testing.T, b store.Backend)
	}{
		{"Version", testVersion},
		{"Users", testUsers},
		{"UserExpiryAndDisable", testUserExpiryAndDisable},
		{"DeviceAllocation", testDeviceAllocation},
		{"DeviceConcurrentAdds", testDeviceConcurrentAdds},
		{"DeviceErrors", testDeviceErrors},
		{"DeviceLimitConcurrent", testDeviceLimitConcurrent},
		{"DeviceRevokeRekeyExpiry", testDeviceRevokeRekeyExpiry},
		{"PoolExhaustionAndIPv6", testPoolExhaustionAndIPv6},
		{"AddressQuarantine", testAddressQuarantine},
		{"AddDevicesAllOrNothing", testAddDevicesAllOrNothing},
		{"Enrollment", testEnrollment},
		{"EnrollmentConcurrentClaims", testEnrollmentConcurrentClaims},
		{"ClaimAndAddDevice", testClaimAndAddDevice},
		{"PendingDevices", testPendingDevices},
		{"PendingConcurrent", testPendingConcurrent},
		{"Audit", testAudit},
		{"AuditOrderAndLimit", testAuditOrderAndLimit},
		{"DDNS", testDDNS},
		{"SessionEpoch", testSessionEpoch},
		{"Close", testClose},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open(t)) })
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got %v, want %v", what, err, want)
	}
}

func testVersion(t *testing.T, b store.Backend) {
	v, err := b.Version(context.Background())
	if err != nil || v != store.SchemaVersion() {
		t.Fatalf("version %d %v, want %d", v, err, store.SchemaVersion())
	}
}

// BadEmails are the 13 kinds of e-mail address every backend refuses
// (issue 23, finding 8), each with words of the error that names the
// problem.
var BadEmails = []struct{ Email, Problem string }{
	{"alice@example.com\r\nBcc: all@example.com", "line break"},
	{"alice@example.com\n", "line break"},
	{"ali\x00ce@example.com", "control character"},
	{"alice\u202e@example.com", "control character"}, // right-to-left override
	{"Alice <alice@example.com>", "display name"},
	{"=HYPERLINK(\"http://evil.example\")@example.com", "starts with '='"},
	{"+cmd@example.com", "starts with '+'"},
	{"-2+3@example.com", "starts with '-'"},
	{"@alice@example.com", "starts with '@'"},
	{"alice @example.com", "white space"},
	{"alice@evil.example@example.com", "more than one '@'"},
	{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com", "longer than 254"},
	{"alice@", "a domain after"},
}

func testUsers(t *testing.T, b store.Backend) {
	ctx := context.Background()
	us, err := b.Users(ctx)
	if err != nil || len(us) != 0 {
		t.Fatalf("empty store: %v %v", us, err)
	}
	before := time.Now().Truncate(time.Millisecond)
	u := must[store.User](t)(b.AddUser(ctx, "carol", "carol@example.com"))
	if u.ID == 0 || u.Name != "carol" || u.Email != "carol@example.com" || u.Created.Before(before) || u.Created.Nanosecond()%int(time.Millisecond) != 0 {
		t.Errorf("added %+v", u)
	}
	must[store.User](t)(b.AddUser(ctx, "alice", ""))
	must[store.User](t)(b.AddUser(ctx, "bob.o-k_1", "b@x"))
	for _, c := range []struct{ name, email string }{{"Alice", ""}, {"", ""}, {"-x", ""}, {"a b", ""}, {"ok", "no-at"}} {
		_, err := b.AddUser(ctx, c.name, c.email)
		wantErr(t, fmt.Sprintf("AddUser(%q, %q)", c.name, c.email), err, store.ErrInvalid)
	}
	// Issue 23, finding 8: every backend refuses e-mails a mail header,
	// a terminal or a spreadsheet would read as more than an address,
	// saying what is wrong; nothing is stored.
	for i, c := range BadEmails {
		name := fmt.Sprintf("bad%d", i)
		_, err := b.AddUser(ctx, name, c.Email)
		wantErr(t, fmt.Sprintf("AddUser(%q, %q)", name, c.Email), err, store.ErrInvalid)
		if err != nil && !strings.Contains(err.Error(), c.Problem) {
			t.Errorf("AddUser(%q): %v, want it to say %q", c.Email, err, c.Problem)
		}
		if _, err := b.User(ctx, name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%q: user stored anyway (%v)", c.Email, err)
		}
	}
	_, err = b.AddUser(ctx, "alice", "")
	wantErr(t, "duplicate user", err, store.ErrExists)
	_, err = b.User(ctx, "nobody")
	wantErr(t, "unknown user", err, store.ErrNotFound)
	got := must[store.User](t)(b.User(ctx, "carol"))
	if got.ID != u.ID || got.Email != u.Email || !got.Created.Equal(u.Created) || got.Disabled || got.Expires != nil {
		t.Errorf("User: %+v, added %+v", got, u)
	}
	if got.Created.Location() != time.Local {
		t.Errorf("time in %v, want local", got.Created.Location())
	}
	us = must[[]store.User](t)(b.Users(ctx))
	var names []string
	for _, u := range us {
		names = append(names, u.Name)
	}
	if fmt.Sprint(names) != "[alice bob.o-k_1 carol]" {
		t.Errorf("Users order: %v", names)
	}
}

func testUserExpiryAndDisable(t *testing.T, b store.Backend) {
	ctx := context.Background()
	must[store.User](t)(b.AddUser(ctx, "alice", ""))
	check(t, b.SetUserDisabled(ctx, "alice", true))
	if u := must[store.User](t)(b.User(ctx, "alice")); !u.Disabled {
		t.Error("not disabled")
	}
	if us := must[[]store.User](t)(b.Users(ctx)); len(us) != 1 || !us[0].Disabled {
		t.Errorf("Users must list disabled users: %+v", us)
	}
	check(t, b.SetUserDisabled(ctx, "alice", false))
	if u := must[store.User](t)(b.User(ctx, "alice")); u.Disabled {
		t.Error("still disabled")
	}
	wantErr(t, "disable unknown", b.SetUserDisabled(ctx, "nobody", true), store.ErrNotFound)
	exp := time.Date(2027, 3, 1, 12, 0, 0, 123456789, time.UTC)
	check(t, b.SetUserExpiry(ctx, "alice", &exp))
	u := must[store.User](t)(b.User(ctx, "alice"))
	if u.Expires == nil || !u.Expires.Equal(exp.Truncate(time.Millisecond)) {
		t.Errorf("expiry %v, want %v (to the millisecond)", u.Expires, exp)
	}
	check(t, b.SetUserExpiry(ctx, "alice", nil))
	if u := must[store.User](t)(b.User(ctx, "alice")); u.Expires != nil {
		t.Errorf("expiry not cleared: %v", u.Expires)
	}
	wantErr(t, "expiry of unknown", b.SetUserExpiry(ctx, "nobody", &exp), store.ErrNotFound)
}

func testDeviceAllocation(t *testing.T, b store.Backend) {
	ctx := context.Background()
	must[store.User](t)(b.AddUser(ctx, "bob", ""))
	must[store.User](t)(b.AddUser(ctx, "alice", ""))
	add := func(user, name string, k int) store.Device {
		t.Helper()
		return must[store.Device](t)(b.AddDevice(ctx, store.NewDevice{User: user, Name: name, PublicKey: Key(k)}, Pool))
	}
	d1 := add("bob", "pc", 1)
	if d1.Address != netip.MustParseAddr("10.44.0.2") || d1.ID == 0 || d1.User != "bob" || d1.PublicKey != Key(1) || d1.Revoked != nil {
		t.Errorf("first device %+v: want 10.44.0.2 (network and reserved skipped)", d1)
	}
	d2 := add("alice", "laptop", 2)
	d3 := add("alice", "desk", 3)
	if d2.Address != netip.MustParseAddr("10.44.0.3") || d3.Address != netip.MustParseAddr("10.44.0.4") {
		t.Errorf("addresses %s %s", d2.Address, d3.Address)
	}
	got := must[store.Device](t)(b.Device(ctx, "alice", "laptop"))
	if got.ID != d2.ID || got.Address != d2.Address || !got.Created.Equal(d2.Created) || got.PublicKey != d2.PublicKey {
		t.Errorf("Device %+v, added %+v", got, d2)
	}
	ds := must[[]store.Device](t)(b.Devices(ctx, false))
	var order []string
	for _, d := range ds {
		order = append(order, d.User+"/"+d.Name)
	}
	if fmt.Sprint(order) != "[alice/desk alice/laptop bob/pc]" {
		t.Errorf("Devices order %v", order)
	}
	// A revoked address is quarantined: the next free one is given.
	must[store.Device](t)(b.RevokeDevice(ctx, "bob", "pc"))
	d4 := add("bob", "pc", 4)
	if d4.Address != netip.MustParseAddr("10.44.0.5") {
		t.Errorf("re-added device got %s, want 10.44.0.5 (the revoked %s is in quarantine)", d4.Address, d1.Address)
	}
}

func testDeviceConcurrentAdds(t *testing.T, b store.Backend) {
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		must[store.User](t)(b.AddUser(ctx, fmt.Sprintf("u%d", i), ""))
	}
	const n = 60
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[netip.Addr]string{}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			d, err := b.AddDevice(ctx, store.NewDevice{User: fmt.Sprintf("u%d", i%5), Name: fmt.Sprintf("d%d", i), PublicKey: Key(i)}, Pool)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("add %d: %v", i, err)
				return
			}
			if other, dup := got[d.Address]; dup {
				t.Errorf("%s given to %s and %s", d.Address, other, d.Name)
			}
			got[d.Address] = d.Name
		}(i)
	}
	wg.Wait()
	if len(got) != n {
		t.Errorf("%d distinct addresses for %d devices", len(got), n)
	}
	// Lowest first: exactly .2 ... .61.
	for i := 2; i < n+2; i++ {
		if _, ok := got[netip.AddrFrom4([4]byte{10, 44, 0, byte(i)})]; !ok {
			t.Errorf("10.44.0.%d not allocated", i)
		}
	}
}

// testDeviceLimitConcurrent (issue 23, finding 2): 32 parallel adds for one
// user with a limit of 3 leave exactly 3 devices; the others get ErrLimit.
// A revoked device frees a place; other users have their own count.
func testDeviceLimitConcurrent(t *testing.T, b store.Backend) {
	ctx := context.Background()
	must[store.User](t)(b.AddUser(ctx, "alice", ""))
	must[store.User](t)(b.AddUser(ctx, "bob", ""))
	const n, max = 32, 3
	var wg sync.WaitGroup
	var mu sync.Mutex
	added, limited := 0, 0
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := b.AddDeviceWithin(ctx, store.NewDevice{User: "alice", Name: fmt.Sprintf("d%d", i), PublicKey: Key(i)}, Pool, max)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				added++
			case errors.Is(err, store.ErrLimit):
				limited++
			default:
				t.Errorf("add %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	devs := must[[]store.Device](t)(b.Devices(ctx, false))
	if added != max || limited != n-max || len(devs) != max {
		t.Fatalf("%d added, %d refused with ErrLimit, %d devices stored; want %d, %d, %d", added, limited, len(devs), max, n-max, max)
	}
	must[store.Device](t)(b.AddDeviceWithin(ctx, store.NewDevice{User: "bob", Name: "pc", PublicKey: Key(100)}, Pool, 1))
	_, err := b.AddDeviceWithin(ctx, store.NewDevice{User: "bob", Name: "pc2", PublicKey: Key(101)}, Pool, 1)
	wantErr(t, "bob's second device with limit 1", err, store.ErrLimit)
	must[store.Device](t)(b.RevokeDevice(ctx, "alice", devs[0].Name))
	must[store.Device](t)(b.AddDeviceWithin(ctx, store.NewDevice{User: "alice", Name: "after-revoke", PublicKey: Key(102)}, Pool, max))
	_, err = b.AddDeviceWithin(ctx, store.NewDevice{User: "alice", Name: "x", PublicKey: Key(103)}, Pool, 0)
	wantErr(t, "limit 0", err, store.ErrInvalid)
	_, err = b.AddDeviceWithin(ctx, store.NewDevice{User: "nobody", Name: "x", PublicKey: Key(104)}, Pool, max)
	wantErr(t, "unknown user", err, store.ErrNotFound)
}

func testDeviceErrors(t *testing.T, b store.Backend) {
	ctx := context.Background()
	must[store.User](t)(b.AddUser(ctx, "alice", ""))
	must[store.Device](t)(b.AddDevice(ctx, store.NewDevice{User: "alice", Name: "laptop", PublicKey: Key(1)}, Pool))
	for _, c := range []struct {
		what string
		nd   store.NewDevice
		pool store.Pool
		want error
	}{
		{"bad name", store.NewDevice{User: "alice", Name: "Laptop", PublicKey: Key(2)}, Pool, store.ErrInvalid},
		{"key with newline", store.NewDevice{User: "alice", Name: "pc", PublicKey: Key(2) + "\n"}, Pool, store.ErrInvalid},
		{"short key", store.NewDevice{User: "alice", Name: "pc", PublicKey: "AAAA"}, Pool, store.ErrInvalid},
		{"no pool", store.NewDevice{User: "alice", Name: "pc", PublicKey: Key(2)}, store.Pool{}, store.ErrInvalid},
		{"unknown user", store.NewDevice{User: "nobody", Name: "pc", PublicKey: Key(2)}, Pool, store.ErrNotFound},
		{"duplicate name", store.NewDevice{User: "alice", Name: "laptop", PublicKey: Key(2)}, Pool, store.ErrExists},
		{"duplicate key", store.NewDevice{User: "alice", Name: "pc", PublicKey: Key(1)}, Pool, store.ErrExists},
	} {
		_, err := b.AddDevice(ctx, c.nd, c.pool)
		wantErr(t, c.what, err, c.want)
	}
	_, err := b.Device(ctx, "alice", "nope")
	wantErr(t, "unknown device", err, store.ErrNotFound)
	_, err = b.RevokeDevice(ctx, "alice", "nope")
	wantErr(t, "revoke unknown", err, store.ErrNotFound)
	if ds := must[[]store.Device](t)(b.Devices(ctx, true)); len(ds) != 1 {
		t.Errorf("failed adds left rows: %+v", ds)
	}
}

func testDeviceRevokeRekeyExpiry(t *testing.T, b store.Backend) {
	ctx := context.Background()
	must[store.User](t)(b.AddUser(ctx, "alice", ""))
	d := must[store.Device](t)(b.AddDevice(ctx, store.NewDevice{User: "alice", Name: "laptop", PublicKey: Key(1)}, Pool))
	other := must[store.Device](t)(b.AddDevice(ctx, store.NewDevice{User: "alice", Name: "desk", PublicKey: Key(2)}, Pool))
	// Rekey: address stays; a taken or bad key is refused.
	r := must[store.Device](t)(b.RekeyDevice(ctx, "alice", "laptop", Key(3)))
	if r.Address != d.Address || r.PublicKey != Key(3) || r.ID != d.ID {
		t.Errorf("rekeyed %+v", r)
	}
	_, err := b.RekeyDevice(ctx, "alice", "laptop", Key(2))
	wantErr(t, "rekey to a taken key", err, store.ErrExists)
	_, err = b.RekeyDevice(ctx, "alice", "laptop", "bad")
	wantErr(t, "rekey to a bad key", err, store.ErrInvalid)
	_, err = b.RekeyDevice(ctx, "alice", "nope", Key(4))
	wantErr(t, "rekey unknown", err, store.ErrNotFound)
	if got := must[store.Device](t)(b.Device(ctx, "alice", "laptop")); got.PublicKey != Key(3) {
		t.Errorf("key after failed rekeys: %s", got.PublicKey)
	}
	// Expiry.
	exp := time.Date(2027, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	check(t, b.SetDeviceExpiry(ctx, "alice", "laptop", &exp))
	if got := must[store.Device](t)(b.Device(ctx, "alice", "laptop")); got.Expires == nil || !got.Expires.Equal(exp) {
		t.Errorf("expiry %v", got.Expires)
	}
	check(t, b.SetDeviceExpiry(ctx, "alice", "laptop", nil))
	if got := must[store.Device](t)(b.Device(ctx, "alice", "laptop")); got.Expires != nil {
		t.Errorf("expiry not cleared %v", got.Expires)
	}
	wantErr(t, "expiry of unknown", b.SetDeviceExpiry(ctx, "alice", "nope", &exp), store.ErrNotFound)
	wantErr(t, "expiry of unknown user", b.SetDeviceExpiry(ctx, "bob", "laptop", &exp), store.ErrNotFound)
	// Revoke: the row stays (all), the name, key and address are free.
	rv := must[store.Device](t)(b.RevokeDevice(ctx, "alice", "laptop"))
	if rv.Revoked == nil || rv.ID != d.ID {
		t.Fatalf("revoked %+v", rv)
	}
	_, err = b.Device(ctx, "alice", "laptop")
	wantErr(t, "revoked device", err, store.ErrNotFound)
	_, err = b.RevokeDevice(ctx, "alice", "laptop")
	wantErr(t, "second revoke", err, store.ErrNotFound)
	wantErr(t, "expiry of revoked", b.SetDeviceExpiry(ctx, "alice", "laptop", &exp), store.ErrNotFound)
	_, err = b.RekeyDevice(ctx, "alice", "laptop", Key(5))
	wantErr(t, "rekey revoked", err, store.ErrNotFound)
	if act := must[[]store.Device](t)(b.Devices(ctx, false)); len(act) != 1 || act[0].ID != other.ID {
		t.Errorf("active after revoke: %+v", act)
	}
	all := must[[]store.Device](t)(b.Devices(ctx, true))
	if len(all) != 2 {
		t.Fatalf("all after revoke: %+v", all)
	}
	for _, a := range all {
		if a.ID == d.ID && (a.Revoked == nil || !a.Revoked.Equal(*rv.Revoked)) {
			t.Errorf("revoked row %+v, revoke returned %v", a, rv.Revoked)
		}
	}
	again := must[store.Device](t)(b.AddDevice(ctx, store.NewDevice{User: "alice", Name: "laptop", PublicKey: Key(3)}, Pool))
	if again.Address == d.Address || again.ID == d.ID {
		t.Errorf("re-added %+v: want a new id and not the revoked (quarantined) address %s", again, d.Address)
	}
	// Same name and key again, revoked twice: both rows are kept, ordered by id.
	must[store.Device](t)(b.RevokeDevice(ctx, "alice", "laptop"))
	all = must[[]store.Device](t)(b.Devices(ctx, true))
	if len(all) != 3 || all[0].Name != "desk" || all[1].ID != d.ID || all[2].ID != again.ID {
		t.Errorf("all devices %+v", all)
	}
}

func testPoolExhaustionAndIPv6(t *testing.T, b store.Backend) {
	ctx := context.Background()
	must[store.User](t)(b.AddUser(ctx, "a", ""))
	small := store.Pool{Subnet: netip.MustParsePrefix("10.9.0.0/29"), Reserved: []netip.Addr{netip.MustParseAddr("10.9.0.1")}}
	// .0 network, .1 reserved, .7 broadcast: .2-.6 are five addresses.
	for i := 0; i < 5; i++ {
		must[store.Device](t)(b.AddDevice(ctx, store.NewDevice{User: "a", Name: fmt.Sprintf("d%d", i), PublicKey: Key(i)}, small))
	}
	_, err := b.AddDevice(ctx, store.NewDevice{User: "a", Name: "d5", PublicKey: Key(5)}, small)
	wantErr(t, "full pool", err, store.ErrExhausted)
	v6 := store.Pool{Subnet: netip.MustParsePrefix("fd00:44::/120"), Reserved: []netip.Addr{netip.MustParseAddr("fd00:44::1")}}
	d := must[store.Device](t)(b.AddDevice(ctx, store.NewDevice{User: "a", Name: "v6", PublicKey: Key(10)}, v6))
	if d.Address != netip.MustParseAddr("fd00:44::2") {
		t.Errorf("v6 address %s", d.Address)
	}
	if got := must[store.Device](t)(b.Device(ctx, "a", "v6")); got.Address != d.Address {
		t.Errorf("v6 read back %s", got.Address)
	}
}

// testAddressQuarantine: a revoked device's address goes to no new device
// while in quarantine, unless the pool has nothing else; then the address
// revoked longest ago goes first. Without quarantine it is free at once.
func testAddressQuarantine(t *testing.T, b store.Backend) {
	ctx := context.Background()
	must[store.User](t)(b.AddUser(ctx, "a", ""))
	// .0 network, .1 reserved, .7 broadcast: .2-.6 are five addresses.
	q := store.Pool{Subnet: netip.MustParsePrefix("10.9.0.0/29"), Reserved: []netip.Addr{netip.MustParseAddr("10.9.0.1")},
		Quarantine: 720 * time.Hour}
	add := func(name string, k int, pool store.Pool) netip.Addr {
		t.Helper()
		return must[store.Device](t)(b.AddDevice(ctx, store.NewDevice{User: "a", Name: name, PublicKey: Key(k)}, pool)).Address
	}
	revoke := func(name string) time.Time {
		t.Helper()
		rv := must[store.Device](t)(b.RevokeDevice(ctx, "a", name))
		for time.Now().UnixMilli() <= rv.Revoked.UnixMilli() { // the next revocation gets a later timestamp (stores keep ms)
			runtime.Gosched()
		}
		return *rv.Revoked
	}
	ip := func(s string) netip.Addr { return netip.MustParseAddr("10.9.0." + s) }
	for i := 0; i < 4; i++ { // .2-.5
		add(fmt.Sprintf("d%d", i), i, q)
	}
	revoke("d2") // .4
	if got := add("n1", 10, q); got != ip("6") {
		t.Fatalf("new device after a revoke got %s: want 10.9.0.6, never the quarantined 10.9.0.4", got)
	}
	if ds := must[[]store.Device](t)(b.AddDevices(ctx, []store.NewDevice{{User: "a", Name: "b1", PublicKey: Key(11)}}, q)); ds[0].Address != ip("4") {
		t.Fatalf("batch add in a full pool got %s: want the only (quarantined) 10.9.0.4", ds[0].Address)
	}
	// Two in quarantine, nothing else: the one revoked first goes first,
	// though it is the higher address.
	revoke("n1") // .6
	revoke("d0") // .2
	if got := add("n2", 12, q); got != ip("6") {
		t.Fatalf("exhausted pool gave %s: want 10.9.0.6, revoked longest ago", got)
	}
	if got := add("n3", 13, q); got != ip("2") {
		t.Fatalf("exhausted pool gave %s: want 10.9.0.2", got)
	}
	_, err := b.AddDevice(ctx, store.NewDevice{User: "a", Name: "n4", PublicKey: Key(14)}, q)
	wantErr(t, "full pool with quarantine", err, store.ErrExhausted)
	// No quarantine: the address is free at once, lowest first.
	revoke("d3") // .5
	revoke("d1") // .3
	noQ := store.Pool{Subnet: q.Subnet, Reserved: q.Reserved}
	if got := add("n5", 15, noQ); got != ip("3") {
		t.Fatalf("without quarantine got %s: want 10.9.0.3", got)
	}
}

func testAddDevicesAllOrNothing(t *testing.T, b store.Backend) {
	ctx := context.Background()
	must[store.User](t)(b.AddUser(ctx, "a", ""))
	must[store.Device](t)(b.AddDevice(ctx, store.NewDevice{User: "a", Name: "first", PublicKey: Key(1000)}, Pool))
	var nds []store.NewDevice
	for i := 0; i < 50; i++ {
		nds = append(nds, store.NewDevice{User: "a", Name: fmt.Sprintf("d%d", i), PublicKey: Key(i)})
	}
	ds := must[[]store.Device](t)(b.AddDevices(ctx, nds, Pool))
	seen := map[netip.Addr]bool{netip.MustParseAddr("10.44.0.2"): true}
	for i, d := range ds {
		if seen[d.Address] || d.Name != nds[i].Name {
			t.Fatalf("device %d: %+v", i, d)
		}
		seen[d.Address] = true
	}
	_, err := b.AddDevices(ctx, []store.NewDevice{{User: "a", Name: "new1", PublicKey: Key(1001)}, {User: "a", Name: "d3", PublicKey: Key(1002)}}, Pool)
	wantErr(t, "duplicate in batch", err, store.ErrExists)
	_, err = b.AddDevices(ctx, []store.NewDevice{{User: "a", Name: "new1", PublicKey: Key(1001)}, {User: "a", Name: "new2", PublicKey: Key(1001)}}, Pool)
	wantErr(t, "duplicate key inside batch", err, store.ErrExists)
	if all := must[[]store.Device](t)(b.Devices(ctx, true)); len(all) != 51 {
		t.Fatalf("partial batch committed: %d devices", len(all))
	}
}

func testEnrollment(t *testing.T, b store.Backend) {
	ctx := context.Background()
	must[store.User](t)(b.AddUser(ctx, "alice", ""))
	exp := time.Now().Add(time.Hour)
	check(t, b.CreateEnrollment(ctx, "h1", "alice", "laptop", exp))
	wantErr(t, "duplicate hash", b.CreateEnrollment(ctx, "h1", "alice", "other", exp), store.ErrExists)
	wantErr(t, "unknown user", b.CreateEnrollment(ctx, "h2", "nobody", "laptop", exp), store.ErrNotFound)
	wantErr(t, "bad device name", b.CreateEnrollment(ctx, "h3", "alice", "Bad Name", exp), store.ErrInvalid)
	check(t, b.CreateEnrollment(ctx, "old", "alice", "laptop", time.Now().Add(-time.Second)))
	e := must[store.Enrollment](t)(b.PeekEnrollment(ctx, "h1"))
	if e.User != "alice" || e.Device != "laptop" || !e.Expires.Equal(exp.Truncate(time.Millisecond)) {
		t.Errorf("peek %+v", e)
	}
	e = must[store.Enrollment](t)(b.ClaimEnrollment(ctx, "h1", "198.51.100.7"))
	if e.User != "alice" || e.Device != "laptop" {
		t.Errorf("claim %+v", e)
	}
	_, err := b.ClaimEnrollment(ctx, "h1", "x")
	wantErr(t, "second claim", err, store.ErrUsed)
	_, err = b.PeekEnrollment(ctx, "h1")
	wantErr(t, "peek used", err, store.ErrUsed)
	_, err = b.ClaimEnrollment(ctx, "old", "x")
	wantErr(t, "expired claim", err, store.ErrExpired)
	_, err = b.PeekEnrollment(ctx, "old")
	wantErr(t, "expired peek", err, store.ErrExpired)
	_, err = b.ClaimEnrollment(ctx, "nope", "x")
	wantErr(t, "unknown claim", err, store.ErrNotFound)
	_, err = b.PeekEnrollment(ctx, "nope")
	wantErr(t, "unknown peek", err, store.ErrNotFound)
}

func testEnrollmentConcurrentClaims(t *testing.T, b store.Backend) {
	ctx := context.Background()
	must[store.User](t)(b.AddUser(ctx, "alice", ""))
	check(t, b.CreateEnrollment(ctx, "h", "alice", "laptop", time.Now().Add(time.Hour)))
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, _, errs[i] = b.ClaimEnrollmentAndAddDevice(ctx, "h", "x", store.NewDevice{PublicKey: Key(i)}, Pool)
		}(i)
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrUsed):
			t.Errorf("claim: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d claims of one link succeeded", ok)
	}
	if ds := must[[]store.Device](t)(b.Devices(ctx, true)); len(ds) != 1 {
		t.Errorf("%d devices from one link", len(ds))
	}
}

func testClaimAndAddDevice(t *testing.T, b store.Backend) {
	ctx := context.Background()
	must[store.User](t)(b.AddUser(ctx, "alice", ""))
	must[store.Device](t)(b.AddDevice(ctx, store.NewDevice{User: "alice", Name: "old", PublicKey: Key(1)}, Pool))
	exp := time.Now().Add(time.Hour)
	check(t, b.CreateEnrollment(ctx, "h", "alice", "laptop", exp))
	// A taken key: nothing happens, the link stays usable.
	_, _, err := b.ClaimEnrollmentAndAddDevice(ctx, "h", "x", store.NewDevice{PublicKey: Key(1)}, Pool)
	wantErr(t, "taken key", err, store.ErrExists)
	_, _, err = b.ClaimEnrollmentAndAddDevice(ctx, "h", "x", store.NewDevice{PublicKey: "bad"}, Pool)
	wantErr(t, "bad key", err, store.ErrInvalid)
	_, _, err = b.ClaimEnrollmentAndAddDevice(ctx, "h", "x", store.NewDevice{User: "bob", PublicKey: Key(2)}, Pool)
	wantErr(t, "other user", err, store.ErrInvalid)
	_, _, err = b.ClaimEnrollmentAndAddDevice(ctx, "h", "x", store.NewDevice{Name: "desk", PublicKey: Key(2)}, Pool)
	wantErr(t, "other device", err, store.ErrInvalid)
	must[store.Enrollment](t)(b.PeekEnrollment(ctx, "h"))
	e, d, err := b.ClaimEnrollmentAndAddDevice(ctx, "h", "x", store.NewDevice{User: "alice", PublicKey: Key(2)}, Pool)
	if err != nil || e.Device != "laptop" || d.Name != "laptop" || d.User != "alice" || d.Address != netip.MustParseAddr("10.44.0.3") {
		t.Fatalf("claim and add: %+v %+v %v", e, d, err)
	}
	_, _, err = b.ClaimEnrollmentAndAddDevice(ctx, "h", "x", store.NewDevice{PublicKey: Key(3)}, Pool)
	wantErr(t, "second use", err, store.ErrUsed)
}

func testAudit(t *testing.T, b store.Backend) {
	ctx := context.Background()
	old := time.Now().Add(-500 * 24 * time.Hour)
	now := time.Now()
	check(t, b.WriteAudit(ctx, []store.AuditRecord{
		{Kind: store.AuditStart, Key: "a-1", At: old, User: "alice", Device: "laptop", Service: "codemeter", Proto: "tcp", Client: "10.44.0.2:1", Rule: "rule 0", Reason: "allowed"},
		{Kind: store.AuditEnd, Key: "a-1", At: old.Add(time.Hour), BytesUp: 10, BytesDown: 20, EndReason: "client closed"},
		{Kind: store.AuditStart, Key: "a-2", At: now, User: "bob", Device: "pc", Service: "codemeter", Proto: "tcp", Client: "10.44.0.3:1", Rule: "rule 0", Reason: "allowed"},
		{Kind: store.AuditEnd, Key: "nope", At: now, EndReason: "x"},
		{Kind: store.AuditDenial, At: old, User: "eve", Service: "codemeter", Proto: "tcp", Client: "10.44.0.9:1", Rule: "default", Reason: "no"},
		{Kind: store.AuditDenial, At: now, User: "eve", Device: "ph", Service: "codemeter", Proto: "udp", Client: "10.44.0.9:2", Rule: "default", Reason: "no"},
		{Kind: store.AuditEvent, At: old, Actor: "local", Action: "user.add", Reason: "eve"},
	}))
	rows := must[[]store.AuditSession](t)(b.AuditSessions(ctx, old.Add(-time.Minute), now.Add(time.Minute)))
	if len(rows) != 2 {
		t.Fatalf("sessions: %+v", rows)
	}
	a := rows[0]
	if a.Key != "a-1" || a.User != "alice" || a.Device != "laptop" || a.Service != "codemeter" || a.Proto != "tcp" ||
		a.Client != "10.44.0.2:1" || a.Rule != "rule 0" || a.Reason != "allowed" || a.BytesUp != 10 || a.BytesDown != 20 ||
		a.EndReason != "client closed" || !a.Start.Equal(old.Truncate(time.Microsecond)) || a.End == nil ||
		!a.End.Equal(old.Add(time.Hour).Truncate(time.Microsecond)) {
		t.Errorf("session a-1: %+v", a)
	}
	if rows[1].End != nil || rows[1].EndReason != "" {
		t.Errorf("open session %+v", rows[1])
	}
	// Overlap: a session that ended before from is not returned, one open is.
	if r := must[[]store.AuditSession](t)(b.AuditSessions(ctx, old.Add(2*time.Hour), now.Add(time.Minute))); len(r) != 1 || r[0].Key != "a-2" {
		t.Errorf("overlap query: %+v", r)
	}
	if r := must[[]store.AuditSession](t)(b.AuditSessions(ctx, old.Add(-time.Hour), old)); len(r) != 0 {
		t.Errorf("[from, to) excludes a start at to: %+v", r)
	}
	ds := must[[]store.AuditDenialRow](t)(b.AuditDenials(ctx, old.Add(-time.Minute), now.Add(time.Minute), 10))
	if len(ds) != 2 || ds[0].Device != "ph" || ds[0].Proto != "udp" || ds[0].Source != "10.44.0.9:2" || !ds[0].At.Equal(now.Truncate(time.Microsecond)) {
		t.Errorf("denials %+v", ds)
	}
	ev := must[[]store.AuditEventRow](t)(b.AuditEvents(ctx, old.Add(-time.Minute), now, 10))
	if len(ev) != 1 || ev[0].Actor != "local" || ev[0].Action != "user.add" || ev[0].Detail != "eve" {
		t.Errorf("events %+v", ev)
	}
	// A crash leaves bob's session open; the next start closes it, never
	// before its start.
	// Another gateway's (key prefix) stay open.
	if n, err := b.CloseOpenSessions(ctx, "gw2/", now.Add(-time.Hour), "gateway restarted"); err != nil || n != 0 {
		t.Errorf("close another gateway's open sessions: %d %v", n, err)
	}
	n, err := b.CloseOpenSessions(ctx, "a-", now.Add(-time.Hour), "gateway restarted")
	if err != nil || n != 1 {
		t.Fatalf("close open: %d %v", n, err)
	}
	if n, err := b.CloseOpenSessions(ctx, "", now, "again"); err != nil || n != 0 {
		t.Errorf("second close open: %d %v", n, err)
	}
	rows = must[[]store.AuditSession](t)(b.AuditSessions(ctx, now.Add(-time.Minute), now.Add(time.Minute)))
	if len(rows) != 1 || rows[0].End == nil || !rows[0].End.Equal(rows[0].Start) || rows[0].EndReason != "gateway restarted" {
		t.Errorf("closed session %+v", rows)
	}
	n, err = b.PruneAudit(ctx, time.Now().Add(-400*24*time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("pruned %d (%v), want 3 old records", n, err)
	}
	rows = must[[]store.AuditSession](t)(b.AuditSessions(ctx, old.Add(-time.Minute), now.Add(time.Hour)))
	ds = must[[]store.AuditDenialRow](t)(b.AuditDenials(ctx, old.Add(-time.Minute), now.Add(time.Minute), 10))
	if len(rows) != 1 || rows[0].User != "bob" || len(ds) != 1 {
		t.Fatalf("after prune: %+v %+v", rows, ds)
	}
	wantErr(t, "bad kind", b.WriteAudit(ctx, []store.AuditRecord{{Kind: store.AuditEvent, At: now, Actor: "x", Action: "y"}, {Kind: 99}}), store.ErrInvalid)
	if ev := must[[]store.AuditEventRow](t)(b.AuditEvents(ctx, now.Add(-time.Minute), now.Add(time.Minute), 10)); len(ev) != 0 {
		t.Errorf("a failed batch wrote %+v", ev)
	}
	// Open sessions survive a prune.
	check(t, b.WriteAudit(ctx, []store.AuditRecord{{Kind: store.AuditStart, Key: "open", At: old, User: "c", Proto: "tcp"}}))
	must[int64](t)(b.PruneAudit(ctx, now.Add(time.Second)))
	if r := must[[]store.AuditSession](t)(b.AuditSessions(ctx, old.Add(-time.Minute), now.Add(time.Hour))); len(r) != 1 || r[0].Key != "open" {
		t.Errorf("after pruning everything: %+v", r)
	}
}

func testAuditOrderAndLimit(t *testing.T, b store.Backend) {
	ctx := context.Background()
	base := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	var recs []store.AuditRecord
	for i := 0; i < 10; i++ {
		at := base.Add(time.Duration(i/2) * time.Microsecond) // pairs share a time: id breaks the tie
		recs = append(recs,
			store.AuditRecord{Kind: store.AuditStart, Key: fmt.Sprint("s", i), At: at, User: fmt.Sprint("u", i), Proto: "tcp"},
			store.AuditRecord{Kind: store.AuditDenial, At: at, User: fmt.Sprint("u", i)},
			store.AuditRecord{Kind: store.AuditEvent, At: at, Actor: fmt.Sprint("u", i), Action: "a"})
	}
	check(t, b.WriteAudit(ctx, recs))
	to := base.Add(time.Second)
	ss := must[[]store.AuditSession](t)(b.AuditSessions(ctx, base, to))
	ds := must[[]store.AuditDenialRow](t)(b.AuditDenials(ctx, base, to, 4))
	ev := must[[]store.AuditEventRow](t)(b.AuditEvents(ctx, base, to, 3))
	var s, d, e []string
	for _, x := range ss {
		s = append(s, x.User)
	}
	for _, x := range ds {
		d = append(d, x.User)
	}
	for _, x := range ev {
		e = append(e, x.Actor)
	}
	if fmt.Sprint(s) != "[u0 u1 u2 u3 u4 u5 u6 u7 u8 u9]" || fmt.Sprint(d) != "[u9 u8 u7 u6]" || fmt.Sprint(e) != "[u9 u8 u7]" {
		t.Errorf("order: sessions %v denials %v events %v", s, d, e)
	}
	if ds := must[[]store.AuditDenialRow](t)(b.AuditDenials(ctx, base, to, 0)); len(ds) != 0 {
		t.Errorf("limit 0: %d rows", len(ds))
	}
	if ds := must[[]store.AuditDenialRow](t)(b.AuditDenials(ctx, base.Add(time.Microsecond), base.Add(3*time.Microsecond), 100)); len(ds) != 4 {
		t.Errorf("[from, to): %d rows", len(ds))
	}
}

func testDDNS(t *testing.T, b store.Backend) {
	ctx := context.Background()
	if a, err := b.DDNSAddr(ctx, "p", "ipv4"); err != nil || a.IsValid() {
		t.Errorf("none: %v %v", a, err)
	}
	at := time.Now()
	check(t, b.SetDDNSAddr(ctx, "p", "ipv4", netip.MustParseAddr("192.0.2.1"), at))
	check(t, b.SetDDNSAddr(ctx, "p", "ipv6", netip.MustParseAddr("2001:db8::1"), at))
	check(t, b.SetDDNSAddr(ctx, "p", "ipv4", netip.MustParseAddr("192.0.2.2"), at))
	if a := must[netip.Addr](t)(b.DDNSAddr(ctx, "p", "ipv4")); a != netip.MustParseAddr("192.0.2.2") {
		t.Errorf("ipv4 %v", a)
	}
	if a := must[netip.Addr](t)(b.DDNSAddr(ctx, "p", "ipv6")); a != netip.MustParseAddr("2001:db8::1") {
		t.Errorf("ipv6 %v", a)
	}
	if h := must[store.DDNSHold](t)(b.DDNSHold(ctx, "p")); !h.IsZero() || !h.Updated.IsZero() {
		t.Errorf("no hold: %+v", h)
	}
	until := time.Now().Add(time.Hour)
	before := time.Now().Truncate(time.Millisecond)
	check(t, b.SetDDNSHold(ctx, "p", store.DDNSHold{Fatal: true, Reason: "bad credentials", Fingerprint: "fp", BackoffUntil: until}))
	h := must[store.DDNSHold](t)(b.DDNSHold(ctx, "p"))
	if !h.Fatal || h.Reason != "bad credentials" || h.Fingerprint != "fp" || !h.BackoffUntil.Equal(until.Truncate(time.Millisecond)) || h.Updated.Before(before) {
		t.Errorf("hold %+v", h)
	}
	check(t, b.SetDDNSHold(ctx, "p", store.DDNSHold{Reason: "later"}))
	if h := must[store.DDNSHold](t)(b.DDNSHold(ctx, "p")); h.Fatal || !h.BackoffUntil.IsZero() || h.Reason != "later" {
		t.Errorf("replaced hold %+v", h)
	}
	check(t, b.ClearDDNSHold(ctx, "p"))
	check(t, b.ClearDDNSHold(ctx, "p"))
	if h := must[store.DDNSHold](t)(b.DDNSHold(ctx, "p")); !h.IsZero() {
		t.Errorf("cleared hold %+v", h)
	}
}

func testSessionEpoch(t *testing.T, b store.Backend) {
	ctx := context.Background()
	if e := must[uint32](t)(b.NextSessionEpoch(ctx)); e != 1 {
		t.Errorf("first epoch %d", e)
	}
	const n = 20
	var wg sync.WaitGroup
	got := make([]uint32, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			e, err := b.NextSessionEpoch(ctx)
			if err != nil {
				t.Error(err)
			}
			got[i] = e
		}(i)
	}
	wg.Wait()
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	for i, e := range got {
		if e != uint32(i+2) {
			t.Fatalf("epochs %v: want 2..%d each once", got, n+1)
		}
	}
}

func testClose(t *testing.T, b store.Backend) {
	ctx := context.Background()
	must[store.User](t)(b.AddUser(ctx, "a", ""))
	check(t, b.Close())
	wantErr(t, "second Close", b.Close(), store.ErrClosed)
	_, err := b.Users(ctx)
	wantErr(t, "Users after Close", err, store.ErrClosed)
	_, err = b.AddUser(ctx, "b", "")
	wantErr(t, "AddUser after Close", err, store.ErrClosed)
	_, err = b.User(ctx, "a")
	wantErr(t, "User after Close", err, store.ErrClosed)
	_, err = b.NextSessionEpoch(ctx)
	wantErr(t, "NextSessionEpoch after Close", err, store.ErrClosed)
	_, err = b.AddDevice(ctx, store.NewDevice{User: "a", Name: "d", PublicKey: Key(1)}, Pool)
	wantErr(t, "AddDevice after Close", err, store.ErrClosed)
	wantErr(t, "WriteAudit after Close", b.WriteAudit(ctx, nil), store.ErrClosed)
	_, err = b.Version(ctx)
	wantErr(t, "Version after Close", err, store.ErrClosed)
	wantErr(t, "SetDDNSHold after Close", b.SetDDNSHold(ctx, "p", store.DDNSHold{}), store.ErrClosed)
}
