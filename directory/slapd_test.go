package directory_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/directory"
	"github.com/licgate/licgate/directory/directorytest"
	"go.uber.org/goleak"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// fixture: licensed (A) contains engineers (B) contains alice and dave;
// bob is directly in licensed; carol is in loop1 and loop2, which contain
// each other.
func fixture(t *testing.T, d *directorytest.Slapd) {
	people, groups := "ou=people,"+d.BaseDN, "ou=groups,"+d.BaseDN
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		d.Add(t, "uid="+u+","+people, map[string][]string{
			"objectClass": {"inetOrgPerson"}, "uid": {u}, "cn": {u}, "sn": {u}, "mail": {u + "@example.org"},
		})
	}
	// groupOfNames needs a member; the loop is closed by a modify.
	for _, g := range []struct{ name, member string }{
		{"engineers", "uid=alice," + people},
		{"licensed", "cn=engineers," + groups},
		{"loop1", "uid=carol," + people},
		{"loop2", "cn=loop1," + groups},
	} {
		d.Add(t, "cn="+g.name+","+groups, map[string][]string{"objectClass": {"groupOfNames"}, "cn": {g.name}, "member": {g.member}})
	}
	d.Replace(t, "cn=engineers,"+groups, "member", "uid=alice,"+people, "uid=dave,"+people)
	d.Replace(t, "cn=licensed,"+groups, "member", "cn=engineers,"+groups, "uid=bob,"+people)
	d.Replace(t, "cn=loop1,"+groups, "member", "uid=carol,"+people, "cn=loop2,"+groups)
}

func config(d *directorytest.Slapd) directory.Config {
	return directory.Config{
		URL: d.URL, CAFile: d.CAFile, BindDN: d.ReaderDN, PasswordFile: d.ReaderPasswordFile,
		BaseDN: d.BaseDN, Preset: directory.PresetOpenLDAP, Timeout: 20 * time.Second,
	}
}

func groupsOf(t *testing.T, s directory.Snapshot) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, u := range s.Users {
		m[u.Name] = strings.Join(u.Groups, ",")
	}
	return m
}

func TestSlapdSyncNestedGroups(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // first registered, runs after slapd stops
	d := directorytest.Start(t, directorytest.Options{})
	fixture(t, d)
	want := map[string]string{
		"alice": "engineers,licensed",
		"bob":   "licensed",
		"carol": "loop1,loop2",
		"dave":  "engineers,licensed",
	}
	for _, tc := range []struct{ name, membership string }{
		{"member", directory.MembershipMember},
		{"memberof", directory.MembershipMemberOf},
		{"ldaps", directory.MembershipMember},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(d)
			cfg.Membership = tc.membership
			if tc.name == "ldaps" {
				cfg.URL = d.LDAPS
			}
			cfg.PageSize = 2 // several pages per search
			if err := directory.Validate(cfg); err != nil {
				t.Fatal(err)
			}
			s := directory.New(cfg, testLogger(t))
			snap, err := s.Sync(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := groupsOf(t, snap); !mapsEqual(got, want) {
				t.Errorf("groups = %v, want %v", got, want)
			}
			if got := strings.Join(snap.Groups, ","); got != "engineers,licensed,loop1,loop2" {
				t.Errorf("all groups = %s", got)
			}
			u, ok := snap.User("ALICE")
			if !ok || u.Email != "alice@example.org" || u.Disabled || u.DN != "uid=alice,ou=people,"+d.BaseDN {
				t.Errorf("alice = %+v, %v", u, ok)
			}
			st := s.Status()
			if st.Stale || st.Users != 4 || st.Groups != 4 || st.LastError != nil || st.LastSuccess.IsZero() {
				t.Errorf("status = %+v", st)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestSlapdDisableRemoveAndDiff(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // first registered, runs after slapd stops
	d := directorytest.Start(t, directorytest.Options{})
	fixture(t, d)
	s := directory.New(config(d), testLogger(t))
	ctx := context.Background()
	before, err := s.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	people := "ou=people," + d.BaseDN
	// ppolicy's permanent lock, as an administrator sets it.
	d.Replace(t, "uid=bob,"+people, "pwdAccountLockedTime", "000001010000Z")
	d.Delete(t, "uid=dave,"+people)
	d.Replace(t, "cn=engineers,ou=groups,"+d.BaseDN, "member", "uid=carol,"+people)
	after, err := s.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := after.User("bob"); !u.Disabled {
		t.Errorf("bob not disabled: %+v", u)
	}
	if _, ok := after.User("dave"); ok {
		t.Error("dave still there")
	}
	var got []string
	for _, c := range directory.Diff(before, after) {
		got = append(got, describe(c))
	}
	want := []string{
		"alice cut -[engineers licensed]",
		"bob cut disabled",
		"carol +[engineers licensed]",
		"dave cut removed -[engineers licensed]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("diff =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func describe(c directory.Change) string {
	s := c.Name
	if c.CutSessions() {
		s += " cut"
	}
	for _, f := range []struct {
		on   bool
		name string
	}{{c.Added, "added"}, {c.Removed, "removed"}, {c.Disabled, "disabled"}, {c.Enabled, "enabled"}} {
		if f.on {
			s += " " + f.name
		}
	}
	if len(c.GroupsAdded) > 0 {
		s += " +" + strings.Join(strings.Fields(strings.Trim(strings.Join(c.GroupsAdded, " "), " ")), " ")
		s = strings.Replace(s, " +", " +[", 1) + "]"
	}
	if len(c.GroupsRemoved) > 0 {
		s += " -[" + strings.Join(c.GroupsRemoved, " ") + "]"
	}
	return s
}

func TestSlapdDownKeepsLastSnapshot(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // first registered, runs after slapd stops
	d := directorytest.Start(t, directorytest.Options{})
	fixture(t, d)
	s := directory.New(config(d), testLogger(t))
	ctx := context.Background()
	if _, err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	d.Stop()
	snap, err := s.Sync(ctx)
	if !errors.Is(err, directory.ErrUnreachable) {
		t.Fatalf("sync with slapd down: %v, want ErrUnreachable", err)
	}
	if len(snap.Users) != 0 {
		t.Errorf("failed sync returned %d users", len(snap.Users))
	}
	st := s.Status()
	if !st.Stale || !errors.Is(st.LastError, directory.ErrUnreachable) || st.Users != 4 {
		t.Errorf("status = %+v", st)
	}
	if last, ok := s.Last(); !ok || len(last.Users) != 4 {
		t.Errorf("last = %d users, %v", len(last.Users), ok)
	}
	d.Restart()
	if _, err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.Stale || st.LastError != nil {
		t.Errorf("status after restart = %+v", st)
	}
}

func TestSlapdBindErrors(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // first registered, runs after slapd stops
	d := directorytest.Start(t, directorytest.Options{})
	ctx := context.Background()

	cfg := config(d)
	cfg.PasswordFile = filepath.Join(t.TempDir(), "wrong.pw")
	if err := os.WriteFile(cfg.PasswordFile, []byte("not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := directory.New(cfg, testLogger(t)).Sync(ctx)
	if !errors.Is(err, directory.ErrBind) || !strings.Contains(err.Error(), d.ReaderDN) || !strings.Contains(err.Error(), "wrong password") {
		t.Errorf("wrong password: %v", err)
	}

	cfg = config(d)
	cfg.CAFile = filepath.Join(t.TempDir(), "other-ca.pem")
	other := directorytest.Start(t, directorytest.Options{}) // a CA that did not sign d's certificate
	b, _ := os.ReadFile(other.CAFile)
	os.WriteFile(cfg.CAFile, b, 0o600)
	_, err = directory.New(cfg, testLogger(t)).Sync(ctx)
	if !errors.Is(err, directory.ErrTLS) || !strings.Contains(err.Error(), "StartTLS") {
		t.Errorf("wrong CA: %v", err)
	}

	cfg = config(d)
	cfg.PasswordFile = filepath.Join(t.TempDir(), "missing.pw")
	if _, err = directory.New(cfg, testLogger(t)).Sync(ctx); !errors.Is(err, directory.ErrPasswordFile) {
		t.Errorf("missing password file: %v", err)
	}
}

func TestSlapdBadAnswers(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // first registered, runs after slapd stops
	d := directorytest.Start(t, directorytest.Options{SizeLimit: 4})
	fixture(t, d) // 4 users, 4 groups
	ctx := context.Background()

	cfg := config(d)
	cfg.MaxEntries = 3
	if _, err := directory.New(cfg, testLogger(t)).Sync(ctx); !errors.Is(err, directory.ErrTooManyEntries) || !strings.Contains(err.Error(), "groups under") {
		t.Errorf("max_entries 3 with 4 groups: %v", err)
	}

	// slapd's sizelimit also bounds paged searches in total.
	d.Add(t, "uid=erin,ou=people,"+d.BaseDN, map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {"erin"}, "cn": {"erin"}, "sn": {"e"}})
	cfg = config(d)
	cfg.PageSize = 2
	if _, err := directory.New(cfg, testLogger(t)).Sync(ctx); !errors.Is(err, directory.ErrSizeLimit) || !strings.Contains(err.Error(), "users under") {
		t.Errorf("server sizelimit 4 with 5 users: %v", err)
	}

	noUID := "cn=nouid,ou=people," + d.BaseDN
	d.Add(t, noUID, map[string][]string{"objectClass": {"inetOrgPerson"}, "cn": {"nouid"}, "sn": {"x"}})
	cfg = config(d)
	cfg.UserFilter = "(|(uid=alice)(cn=nouid))" // under the size limit
	_, err := directory.New(cfg, testLogger(t)).Sync(ctx)
	if !errors.Is(err, directory.ErrMissingAttribute) || !strings.Contains(err.Error(), noUID) || !strings.Contains(err.Error(), "uid") {
		t.Errorf("user without uid: %v", err)
	}
}

func TestSlapdRefusesSuddenlyEmpty(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // first registered, runs after slapd stops
	d := directorytest.Start(t, directorytest.Options{})
	fixture(t, d)
	ctx := context.Background()
	strict := directory.New(config(d), testLogger(t))
	cfg := config(d)
	cfg.AllowEmpty = true
	lax := directory.New(cfg, testLogger(t))
	for _, s := range []*directory.Syncer{strict, lax} {
		if _, err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Everyone gone at once, as when the reader account loses its rights.
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		d.Delete(t, "uid="+u+",ou=people,"+d.BaseDN)
	}
	if _, err := strict.Sync(ctx); !errors.Is(err, directory.ErrSuspicious) {
		t.Errorf("strict: %v, want ErrSuspicious", err)
	}
	if last, _ := strict.Last(); len(last.Users) != 4 || !strict.Status().Stale {
		t.Errorf("strict kept %d users, status %+v", len(last.Users), strict.Status())
	}
	if snap, err := lax.Sync(ctx); err != nil || len(snap.Users) != 0 {
		t.Errorf("allow_empty: %d users, %v", len(snap.Users), err)
	}
}

func TestSlapdRunAndSyncNow(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // first registered, runs after slapd stops
	d := directorytest.Start(t, directorytest.Options{})
	fixture(t, d)
	s := directory.New(config(d), testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	snaps := make(chan directory.Snapshot, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, time.Hour, func(snap directory.Snapshot) { snaps <- snap })
	}()
	defer func() { cancel(); <-done }()
	first := <-snaps // Run syncs at once
	if len(first.Users) != 4 {
		t.Fatalf("first snapshot: %d users", len(first.Users))
	}
	d.Add(t, "uid=erin,ou=people,"+d.BaseDN, map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {"erin"}, "cn": {"erin"}, "sn": {"e"}})
	s.SyncNow() // without it the next sync is an hour away
	select {
	case second := <-snaps:
		if ch := directory.Diff(first, second); len(ch) != 1 || ch[0].Name != "erin" || !ch[0].Added {
			t.Errorf("diff = %+v", ch)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("SyncNow did not sync")
	}
}

// OpenLDAP has no LDAP_MATCHING_RULE_IN_CHAIN: the in_chain mode finds
// no members there. This pins that down, so the docs stay true.
func TestSlapdHasNoInChainRule(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // first registered, runs after slapd stops
	d := directorytest.Start(t, directorytest.Options{})
	fixture(t, d)
	cfg := config(d)
	cfg.Membership = directory.MembershipInChain
	snap, err := directory.New(cfg, testLogger(t)).Sync(context.Background())
	if err != nil {
		t.Logf("in_chain against slapd: %v", err)
		return
	}
	for _, u := range snap.Users {
		if len(u.Groups) > 0 {
			t.Errorf("slapd resolved in-chain for %s: %v (update docs/directory.md)", u.Name, u.Groups)
		}
	}
}

// office21 adds 21 users, u00..u20, all in the group "licensed".
func office21(t *testing.T, d *directorytest.Slapd) []string {
	t.Helper()
	people := "ou=people," + d.BaseDN
	var dns []string
	for i := range 21 {
		u := fmt.Sprintf("u%02d", i)
		d.Add(t, "uid="+u+","+people, map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {u}, "cn": {u}, "sn": {u}})
		dns = append(dns, "uid="+u+","+people)
	}
	d.Add(t, "cn=licensed,ou=groups,"+d.BaseDN, map[string][]string{"objectClass": {"groupOfNames"}, "cn": {"licensed"}, "member": dns})
	return dns
}

// TestSlapdSafeguardHoldsMassChange: with 21 users, a sync that locks 20
// of them, or one that empties their group, is held back and the last
// good snapshot stays; a small change is applied; Accept puts a held
// snapshot in force.
func TestSlapdSafeguardHoldsMassChange(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // first registered, runs after slapd stops
	d := directorytest.Start(t, directorytest.Options{})
	dns := office21(t, d)
	s := directory.New(config(d), testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	snaps := make(chan directory.Snapshot, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, time.Hour, func(snap directory.Snapshot) { snaps <- snap })
	}()
	defer func() { cancel(); <-done }()
	first := <-snaps
	if len(first.Users) != 21 {
		t.Fatalf("first snapshot: %d users", len(first.Users))
	}
	inForce := func() (locked, grouped int) {
		last, _ := s.Last()
		for _, u := range last.Users {
			if u.Disabled {
				locked++
			}
			if slices.Contains(u.Groups, "licensed") {
				grouped++
			}
		}
		return locked, grouped
	}
	held := func(what string, affected int) {
		t.Helper()
		_, err := s.Sync(ctx)
		if !errors.Is(err, directory.ErrSuspicious) {
			t.Fatalf("%s: sync %v, want ErrSuspicious", what, err)
		}
		st := s.Status()
		if st.Held == nil || st.Held.Affected != affected || st.Held.Last != 21 || !st.Stale || st.Users != 21 {
			t.Fatalf("%s: status %+v held %+v", what, st, st.Held)
		}
		if l, g := inForce(); l != 0 || g != 21 {
			t.Fatalf("%s: the snapshot in force changed: %d locked, %d in licensed", what, l, g)
		}
	}

	// 1. 20 of 21 locked at once.
	for _, dn := range dns[:20] {
		d.Replace(t, dn, "pwdAccountLockedTime", "000001010000Z")
	}
	held("20 locked", 20)
	for _, dn := range dns[:20] {
		d.Replace(t, dn, "pwdAccountLockedTime")
	}
	// 2. Every membership removed (groupOfNames needs one member: a DN
	// that is no user).
	d.Replace(t, "cn=licensed,ou=groups,"+d.BaseDN, "member", "cn=nobody,"+d.BaseDN)
	held("group emptied", 21)
	d.Replace(t, "cn=licensed,ou=groups,"+d.BaseDN, "member", dns...)
	// 3. A small change is applied, and drops the held snapshot.
	d.Replace(t, dns[0], "pwdAccountLockedTime", "000001010000Z")
	if _, err := s.Sync(ctx); err != nil {
		t.Fatalf("one user locked: %v", err)
	}
	if st := s.Status(); st.Held != nil || st.Stale {
		t.Fatalf("after a small change: %+v", st)
	}
	if l, _ := inForce(); l != 1 {
		t.Fatalf("one lock not applied: %d locked", l)
	}
	// 4. An admin accepts a held snapshot: onSnapshot gets it.
	if _, err := s.Accept(ctx); !errors.Is(err, directory.ErrNothingHeld) {
		t.Fatalf("accept with nothing held: %v", err)
	}
	for _, dn := range dns[1:20] {
		d.Replace(t, dn, "pwdAccountLockedTime", "000001010000Z")
	}
	if _, err := s.Sync(ctx); !errors.Is(err, directory.ErrSuspicious) {
		t.Fatalf("19 more locked: %v", err)
	}
	h, err := s.Accept(ctx)
	if err != nil || h.Affected != 19 {
		t.Fatalf("accept: %+v %v", h, err)
	}
	select {
	case snap := <-snaps:
		if n := len(directory.Diff(first, snap)); n != 20 {
			t.Errorf("accepted snapshot differs from the first in %d users, want 20", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Accept did not hand the snapshot to onSnapshot")
	}
	if st := s.Status(); st.Held != nil || st.Stale {
		t.Fatalf("after accept: %+v", st)
	}
	if l, _ := inForce(); l != 20 {
		t.Fatalf("accepted, yet %d locked in force", l)
	}
}
