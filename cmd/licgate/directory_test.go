package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/directory/directorytest"
	"github.com/licgate/licgate/gateway/gatewaytest"
)

// TestDirectoryHeldAndAccept: against slapd, a sync that locks 20 of 21
// users is held back and `licgate directory status` says so with the
// counts and names; `licgate directory accept` puts it in force.
func TestDirectoryHeldAndAccept(t *testing.T) {
	d := directorytest.Start(t, directorytest.Options{})
	people := "ou=people," + d.BaseDN
	var dns []string
	for i := range 21 {
		u := fmt.Sprintf("u%02d", i)
		d.Add(t, "uid="+u+","+people, map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {u}, "cn": {u}, "sn": {u}})
		dns = append(dns, "uid="+u+","+people)
	}
	h := gatewaytest.New(t, gatewaytest.TopLevel(fmt.Sprintf("directory:\n  url: %s\n  ca_file: %s\n  bind_dn: %s\n  password_file: %s\n  base_dn: %s\n  interval: 1h\n",
		d.URL, d.CAFile, d.ReaderDN, d.ReaderPasswordFile, d.BaseDN)))
	sock := "-socket=" + h.Config.Socket
	waitStatus := func(want string) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			out, code := cli(t, "directory", "status", sock)
			if code == 0 && strings.Contains(out, want) {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("directory status never said %q:\n%s", want, out)
			}
			time.Sleep(50 * time.Millisecond) // the sync runs in the daemon's goroutine
		}
	}
	waitStatus("current; 21 users")
	if out, code := cli(t, "directory", "accept", sock); code == 0 || !strings.Contains(out, "no snapshot is held back") {
		t.Fatalf("accept with nothing held: %d %s", code, out)
	}
	for _, dn := range dns[:20] {
		d.Replace(t, dn, "pwdAccountLockedTime", "000001010000Z")
	}
	if out, code := cli(t, "directory", "sync", sock); code != 0 {
		t.Fatalf("sync: %d %s", code, out)
	}
	out := waitStatus("HELD BACK")
	for _, want := range []string{"STALE", "would take rights from 20 of 21 users at once (0 removed, 20 disabled, 0 out of a group; the limit is 5): u00, u01",
		"licgate directory accept"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	out, code := cli(t, "directory", "accept", sock)
	if code != 0 || !strings.Contains(out, "accepted: 20 of 21 users lost rights (0 removed, 20 disabled, 0 out of a group): u00,") {
		t.Fatalf("accept: %d %s", code, out)
	}
	if out := waitStatus("current; 21 users"); strings.Contains(out, "HELD") {
		t.Fatalf("after accept:\n%s", out)
	}
}
