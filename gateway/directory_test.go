package gateway_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/licgate/licgate/adminapi"
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
