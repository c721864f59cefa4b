package gateway_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/licgate/licgate/directory/directorytest"
	"github.com/licgate/licgate/gateway/gatewaytest"
	"github.com/licgate/licgate/signin/signintest"
)

// TestSignInAndDirectoryTogether: the office's accounts drive everything.
// The rule admits the directory group "licensed" (slapd) and only within
// 12 hours of a sign-in (node-oidc-provider, in Chromium). Alice's device
// (its WireGuard tunnel up) is held back until she signs in, then takes a
// seat; the directory locks her account and the next sync cuts it.
func TestSignInAndDirectoryTogether(t *testing.T) {
	d := directorytest.Start(t, directorytest.Options{})
	people, groups := "ou=people,"+d.BaseDN, "ou=groups,"+d.BaseDN
	d.Add(t, "uid=alice,"+people, map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {"alice"}, "cn": {"alice"}, "sn": {"a"}, "mail": {"alice@example.test"}})
	d.Add(t, "cn=licensed,"+groups, map[string][]string{"objectClass": {"groupOfNames"}, "cn": {"licensed"}, "member": {"uid=alice," + people}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	op := signintest.StartOP(t, signintest.OPConfig{
		RedirectURIs: []string{"https://office.example.test:" + port + "/signin/callback"},
		Users:        []signintest.User{{Login: "alice", Email: "alice@example.test"}},
	})
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte(op.ClientSecret+"\n"), 0o600)
	h := gatewaytest.New(t,
		gatewaytest.Policy("policy:\n  rules:\n    - {action: allow, who: [group:licensed], signin: 12h}\n"),
		gatewaytest.TopLevel(fmt.Sprintf("public:\n  listen: 127.0.0.1:%s\n  name: office.example.test\n  acme: {directory: \"off\"}\n"+
			"signin:\n  issuer: %s\n  client_id: %s\n  client_secret_file: %s\n  allowed_domains: [example.test]\n"+
			"directory:\n  url: %s\n  ca_file: %s\n  bind_dn: %s\n  password_file: %s\n  base_dn: %s\n  preset: openldap\n  interval: 1h\n",
			port, op.Issuer, op.ClientID, secret, d.URL, d.CAFile, d.ReaderDN, d.ReaderPasswordFile, d.BaseDN)))
	ctx := context.Background()
	synced := func(after time.Time) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for st := h.GW.DirectoryStatus(); st == nil || !st.LastSuccess.After(after); st = h.GW.DirectoryStatus() {
			if time.Now().After(deadline) {
				t.Fatalf("no directory sync: %+v", st)
			}
			time.Sleep(50 * time.Millisecond) // the sync runs in its own goroutine
		}
	}
	synced(time.Time{})
	if _, err := h.GW.AddUser(ctx, "alice", "alice@example.test"); err != nil { // a sign-in binds by the stored e-mail
		t.Fatal(err)
	}
	alice := h.AddDevice("alice", "laptop")
	if _, ans, err := alice.TrySeat(5 * time.Second); err == nil {
		t.Fatalf("a seat before signing in: %q", ans)
	}
	bctx := browser(t, chromedp.Flag("host-resolver-rules", "MAP office.example.test 127.0.0.1"))
	if err := chromedp.Run(bctx, chromedp.Navigate(portalLink(t, h, alice)), signintest.Login("alice")); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	waitFor(t, bctx, `document.body && document.body.textContent.includes("unlocked")`)
	lc := alice.TakeSeat(t)
	defer lc.Close()
	before := time.Now()
	d.Replace(t, "uid=alice,"+people, "pwdAccountLockedTime", "000001010000Z")
	if err := h.GW.DirectorySync(ctx); err != nil {
		t.Fatal(err)
	}
	synced(before)
	if !h.Server.WaitInUse(0, 10*time.Second) {
		t.Fatal("the seat stayed after the directory locked alice")
	}
}
