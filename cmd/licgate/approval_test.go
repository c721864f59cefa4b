package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/gateway/gatewaytest"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/tunnel"
)

// TestDevicePendingApproveDeny: licgate device pending lists the devices
// waiting for approval; approve makes one connect, deny drops another,
// and a name that waits for nothing is an error naming it.
func TestDevicePendingApproveDeny(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("unused\n"), 0o600)
	h := gatewaytest.New(t, gatewaytest.TopLevel(fmt.Sprintf("public:\n  listen: 127.0.0.1:0\n  name: office.example.test\n  acme: {directory: \"off\"}\n"+
		"signin:\n  issuer: https://idp.example.test\n  client_id: licgate\n  client_secret_file: %s\n  allowed_domains: [example.test]\n"+
		"  enrol: {enabled: true, approval: required}\n", secret)))
	ctx := context.Background()
	sock := "-socket=" + h.Config.Socket
	keys := map[string]tunnel.Key{}
	devs := map[string]store.Device{}
	for _, u := range []string{"alice", "bob"} {
		if _, err := h.GW.AddUser(ctx, u, u+"@example.test"); err != nil {
			t.Fatal(err)
		}
		k, err := tunnel.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		d, err := h.GW.RequestDevice(ctx, store.NewDevice{User: u, Name: "pc", PublicKey: k.PublicKey().String()}, 3, 20, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		keys[u], devs[u] = k, d
	}
	out, errOut, code := cli2("device", "pending", sock)
	if code != 0 || !strings.Contains(out, "alice") || !strings.Contains(out, "bob") || !strings.Contains(out, devs["alice"].Address.String()) {
		t.Fatalf("device pending: %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = cli2("device", "approve", "alice", "pc", sock)
	if code != 0 || out != fmt.Sprintf("device alice/pc approved: it connects from %s\n", devs["alice"].Address) {
		t.Fatalf("device approve: %d %q %s", code, out, errOut)
	}
	h.StartClient("alice", "pc", h.GW.Profile(devs["alice"], keys["alice"])).TakeSeat(t).Close()
	out, errOut, code = cli2("device", "deny", "bob", "pc", sock)
	if code != 0 || out != "device bob/pc denied: the request is gone\n" {
		t.Fatalf("device deny: %d %q %s", code, out, errOut)
	}
	if _, ans, err := h.StartClient("bob", "pc", h.GW.Profile(devs["bob"], keys["bob"])).TrySeat(2 * time.Second); err == nil {
		t.Fatalf("a denied device got a seat: %q", ans)
	}
	if out, errOut, code = cli2("device", "pending", sock); code != 0 || out != "no device waits for approval\n" {
		t.Fatalf("device pending when none: %d %q %s", code, out, errOut)
	}
	if _, errOut, code = cli2("device", "approve", "bob", "pc", sock); code != 1 || !strings.Contains(errOut, "no pending device bob/pc") {
		t.Fatalf("approve a denied request: %d %s", code, errOut)
	}
}
