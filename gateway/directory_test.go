package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/directory"
	"github.com/licgate/licgate/directory/directorytest"
	"github.com/licgate/licgate/gateway/gatewaytest"
)

// TestDirectoryGroupsDrivePolicy, against a real slapd: the policy names
// a group that only the directory defines (licensed, which nests
// engineers); Alice, an engineer, takes a seat, Carol (in no group) is
// refused; when the directory locks Alice's account, the next sync
// disables her here and cuts her session.
func TestDirectoryGroupsDrivePolicy(t *testing.T) {
	d := directorytest.Start(t, directorytest.Options{})
	people, groups := "ou=people,"+d.BaseDN, "ou=groups,"+d.BaseDN
	for _, u := range []string{"alice", "carol"} {
		d.Add(t, "uid="+u+","+people, map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {u}, "cn": {u}, "sn": {u}, "mail": {u + "@example.org"}})
	}
	d.Add(t, "cn=engineers,"+groups, map[string][]string{"objectClass": {"groupOfNames"}, "cn": {"engineers"}, "member": {"uid=alice," + people}})
	d.Add(t, "cn=licensed,"+groups, map[string][]string{"objectClass": {"groupOfNames"}, "cn": {"licensed"}, "member": {"cn=engineers," + groups}})
	h := gatewaytest.New(t,
		gatewaytest.Policy("policy:\n  rules:\n    - {action: allow, who: [group:licensed]}\n"),
		gatewaytest.TopLevel(fmt.Sprintf("directory:\n  url: %s\n  ca_file: %s\n  bind_dn: %s\n  password_file: %s\n  base_dn: %s\n  preset: openldap\n  interval: 1h\n",
			d.URL, d.CAFile, d.ReaderDN, d.ReaderPasswordFile, d.BaseDN)))
	ctx := context.Background()
	waitSynced := func(after time.Time) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			st := h.GW.DirectoryStatus()
			if st != nil && st.LastSuccess.After(after) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no directory sync: %+v", st)
			}
			time.Sleep(50 * time.Millisecond) // the sync runs in its own goroutine
		}
	}
	waitSynced(time.Time{})
	alice := h.AddDevice("alice", "laptop")
	carol := h.AddDevice("carol", "pc")
	la := alice.TakeSeat(t)
	defer la.Close()
	if _, ans, err := carol.TrySeat(5 * time.Second); err == nil {
		t.Fatalf("carol (in no directory group) got a seat: %q", ans)
	}
	x, err := h.GW.Explain(ctx, adminapi.ExplainRequest{User: "alice", Device: "laptop", Service: "codemeter"})
	if err != nil || !x.Allow {
		t.Fatalf("explain for alice: %+v %v", x, err)
	}
	// The directory locks Alice's account; the next sync cuts her.
	before := time.Now()
	d.Replace(t, "uid=alice,"+people, "pwdAccountLockedTime", "000001010000Z")
	if err := h.GW.DirectorySync(ctx); err != nil {
		t.Fatal(err)
	}
	waitSynced(before)
	if !h.Server.WaitInUse(0, 10*time.Second) {
		t.Fatal("alice's seat not released after the directory disabled her")
	}
	us, _ := h.GW.Users(ctx)
	for _, u := range us {
		if u.Name == "alice" && !u.Disabled {
			t.Fatal("alice not disabled here")
		}
	}
	if st := h.GW.DirectoryStatus(); st.Stale || st.Users != 2 {
		t.Fatalf("status: %+v", st)
	}
	// The directory goes away: the last good snapshot stays, status says stale.
	d.Stop()
	h.GW.DirectorySync(ctx)
	deadline := time.Now().Add(30 * time.Second)
	for !h.GW.DirectoryStatus().Stale {
		if time.Now().After(deadline) {
			t.Fatal("directory down, yet not stale")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := h.GW.DirectoryStatus(); st.Users != 2 || st.LastError == nil {
		t.Fatalf("last good snapshot lost, or no error: %+v", st)
	}
	if _, ans, err := carol.TrySeat(3 * time.Second); err == nil {
		t.Fatalf("with the directory down, carol got a seat: %q (the groups must stay as they were)", ans)
	}
}

// TestDirectorySafeguardKeepsSessions (issue 23, finding 6), against a
// real slapd with 21 users in the policy's group: locking 20 of them, or
// emptying the group, is held back (sessions kept, status and metrics
// say so); locking one is applied (that one is cut); an admin's accept
// puts a held snapshot in force.
func TestDirectorySafeguardKeepsSessions(t *testing.T) {
	d := directorytest.Start(t, directorytest.Options{})
	people, groups := "ou=people,"+d.BaseDN, "ou=groups,"+d.BaseDN
	var dns []string
	for i := range 21 {
		u := fmt.Sprintf("u%02d", i)
		d.Add(t, "uid="+u+","+people, map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {u}, "cn": {u}, "sn": {u}})
		dns = append(dns, "uid="+u+","+people)
	}
	d.Add(t, "cn=licensed,"+groups, map[string][]string{"objectClass": {"groupOfNames"}, "cn": {"licensed"}, "member": dns})
	h := gatewaytest.New(t,
		gatewaytest.Seats(8),
		gatewaytest.Policy("policy:\n  rules:\n    - {action: allow, who: [group:licensed]}\n"),
		gatewaytest.TopLevel(fmt.Sprintf("directory:\n  url: %s\n  ca_file: %s\n  bind_dn: %s\n  password_file: %s\n  base_dn: %s\n  preset: openldap\n  interval: 1h\n",
			d.URL, d.CAFile, d.ReaderDN, d.ReaderPasswordFile, d.BaseDN)))
	ctx := context.Background()
	// syncNow syncs and waits for the attempt (successful or not).
	syncNow := func() {
		t.Helper()
		before := time.Now()
		if err := h.GW.DirectorySync(ctx); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if st := h.GW.DirectoryStatus(); st != nil && st.LastAttempt.After(before) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no directory sync: %+v", h.GW.DirectoryStatus())
			}
			time.Sleep(50 * time.Millisecond) // the sync runs in its own goroutine
		}
	}
	for deadline := time.Now().Add(30 * time.Second); h.GW.DirectoryStatus().LastSuccess.IsZero(); {
		if time.Now().After(deadline) {
			t.Fatalf("no first sync: %+v", h.GW.DirectoryStatus())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var seats []io.Closer
	for _, u := range []string{"u00", "u01", "u02"} {
		seats = append(seats, h.AddDevice(u, "pc").TakeSeat(t))
	}
	defer func() {
		for _, s := range seats {
			s.Close()
		}
	}()
	if !h.Server.WaitInUse(3, 10*time.Second) {
		t.Fatalf("3 seats wanted, %d in use", h.Server.InUse())
	}
	cli := adminapi.NewClient(h.Config.Socket)
	metrics := func() string {
		t.Helper()
		c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (netConn, error) { return dialUnix(ctx, h.Config.Socket) }}}
		defer c.CloseIdleConnections()
		resp, err := c.Get("http://licgate/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	heldBack := func(what string, affected int) {
		t.Helper()
		syncNow()
		st := h.GW.DirectoryStatus()
		if st.Held == nil || st.Held.Affected != affected || !st.Stale || !errors.Is(st.LastError, directory.ErrSuspicious) {
			t.Fatalf("%s: not held back: %+v", what, st)
		}
		if n := h.Server.InUse(); n != 3 {
			t.Fatalf("%s: %d seats left of 3: sessions were cut", what, n)
		}
		x, err := h.GW.Explain(ctx, adminapi.ExplainRequest{User: "u01", Device: "pc", Service: "codemeter"})
		if err != nil || !x.Allow {
			t.Fatalf("%s: the policy in force changed for u01: %+v %v", what, x, err)
		}
		us, _ := h.GW.Users(ctx)
		for _, u := range us {
			if u.Disabled {
				t.Fatalf("%s: %s disabled here", what, u.Name)
			}
		}
		// What `licgate directory status` and the metrics show.
		if v, err := cli.Directory(ctx); err != nil || v.Held == nil || v.Held.Affected != affected || !v.Stale || v.Held.Last != 21 {
			t.Fatalf("%s: the API does not show it: %+v %v", what, v, err)
		}
		if m := metrics(); !strings.Contains(m, fmt.Sprintf("licgate_directory_held_users %d\n", affected)) || !strings.Contains(m, "licgate_directory_stale 1\n") {
			t.Fatalf("%s: metrics do not show it:\n%s", what, m)
		}
	}

	// Locking 20 of 21 users is held back.
	for _, dn := range dns[:20] {
		d.Replace(t, dn, "pwdAccountLockedTime", "000001010000Z")
	}
	heldBack("20 of 21 locked", 20)
	for _, dn := range dns[:20] {
		d.Replace(t, dn, "pwdAccountLockedTime")
	}
	// Removing every membership is held back (groupOfNames needs one
	// member: a DN that is no user).
	d.Replace(t, "cn=licensed,"+groups, "member", "cn=nobody,"+d.BaseDN)
	heldBack("every membership removed", 21)
	d.Replace(t, "cn=licensed,"+groups, "member", dns...)
	// A small change is applied: u00 locked, its seat released.
	d.Replace(t, dns[0], "pwdAccountLockedTime", "000001010000Z")
	syncNow()
	if st := h.GW.DirectoryStatus(); st.Held != nil || st.Stale {
		t.Fatalf("one lock: %+v", st)
	}
	if !h.Server.WaitInUse(2, 10*time.Second) {
		t.Fatalf("u00 locked: %d seats in use, want 2", h.Server.InUse())
	}
	// An admin accepts a held mass change: u01 and u02 are cut.
	if _, err := h.GW.DirectoryAccept(ctx); !errors.Is(err, directory.ErrNothingHeld) {
		t.Fatalf("accept with nothing held: %v", err)
	}
	for _, dn := range dns[1:20] {
		d.Replace(t, dn, "pwdAccountLockedTime", "000001010000Z")
	}
	heldBack2 := func() {
		syncNow()
		if st := h.GW.DirectoryStatus(); st.Held == nil || st.Held.Affected != 19 || h.Server.InUse() != 2 {
			t.Fatalf("19 more locked: %+v, %d seats", st, h.Server.InUse())
		}
	}
	heldBack2()
	held, err := cli.DirectoryAccept(ctx) // licgate directory accept
	if err != nil || held.Affected != 19 || len(held.Names) != 19 {
		t.Fatalf("accept: %+v %v", held, err)
	}
	if _, err := cli.DirectoryAccept(ctx); err == nil || !strings.Contains(err.Error(), "no snapshot is held back") {
		t.Fatalf("second accept: %v", err)
	}
	if !h.Server.WaitInUse(0, 10*time.Second) {
		t.Fatalf("accepted, yet %d seats in use", h.Server.InUse())
	}
	if st := h.GW.DirectoryStatus(); st.Held != nil || st.Stale {
		t.Fatalf("after accept: %+v", st)
	}
	if m := metrics(); !strings.Contains(m, "licgate_directory_held_users 0\n") {
		t.Fatalf("metrics after accept:\n%s", m)
	}
}
