package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licgate/licgate/gateway/gatewaytest"
)

// TestUserImportFillsPolicyGroups: imported users join the policy groups
// the config already has (setup writes admins and staff), in the file,
// and the daemon takes them at once; groups it does not have are shown to
// paste. `invite --all` with smtp: leaves out users without an address
// instead of refusing everyone.
func TestUserImportFillsPolicyGroups(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t, gatewaytest.Policy("policy:\n  groups:\n    staff: []   # the office\n  rules:\n    - {name: staff, action: allow, who: [group:staff]}\n"),
		gatewaytest.TopLevel("public:\n  listen: 127.0.0.1:0\n  name: office.example.test\n  acme: {directory: \"off\"}\n"+
			"smtp:\n  host: 127.0.0.1\n  port: 1\n  security: none\n  from: it@example.test\n"))
	sock := "-socket=" + h.Config.Socket
	csvIn := filepath.Join(t.TempDir(), "users.csv")
	os.WriteFile(csvIn, []byte("name,email,groups\nhanna,hanna@example.test,staff;cad\nnoel,,staff\n"), 0o600)
	out, code := cli(t, "user", "import", "-c", h.ConfigPath, sock, csvIn)
	if code != 0 || !strings.Contains(out, "policy group staff: hanna, noel added") || !strings.Contains(out, "cad: [hanna]") || strings.Contains(out, "staff: [") {
		t.Fatalf("user import: %d %s", code, out)
	}
	text, _ := os.ReadFile(h.ConfigPath)
	if !strings.Contains(string(text), "# the office") {
		t.Fatalf("comment lost:\n%s", text)
	}
	if out, _ := cli(t, "groups", sock); !strings.Contains(out, "hanna") || !strings.Contains(out, "noel") {
		t.Fatalf("the daemon did not take the members: %s", out)
	}
	// Again: nobody is added twice.
	cli(t, "user", "import", "-c", h.ConfigPath, sock, csvIn)
	if text, _ := os.ReadFile(h.ConfigPath); strings.Count(string(text), "hanna") != 1 {
		t.Fatalf("added twice:\n%s", text)
	}
	// noel has no address: --all leaves him out (naming him is an error).
	if out, code := cli(t, "invite", "noel", "-c", h.ConfigPath, sock); code != 1 || !strings.Contains(out, "no e-mail address") {
		t.Fatalf("invite noel: %d %s", code, out)
	}
	out, _ = cli(t, "invite", "--all", "-c", h.ConfigPath, sock)
	if !strings.Contains(out, "noel: no e-mail address, left out") || strings.Contains(out, "noel <") {
		t.Fatalf("invite --all: %s", out)
	}
}
