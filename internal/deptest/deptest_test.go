// Package deptest holds licgate's package structure: dependencies point
// one way, cmd -> gateway -> {the parts} -> {tunnel, acl, ddns}, and each
// forbidden import below says why it is forbidden. It reads the imports
// with `go list`, as tailscale's tstest/deptest does.
package deptest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/licgate/licgate/"

// leaves may import nothing of the project: they are the pure cores every
// other part builds on, and each must be reusable (and testable) alone.
var leaves = map[string]string{
	"acl":         "the policy is pure: no I/O, no clock, nothing of the project",
	"ddns":        "address detection and updaters stand alone (the store adapts to them)",
	"tunnel":      "WireGuard devices know nothing of users, sessions or storage",
	"transparent": "a socket and routing helper for the proxy; no project state",
	"directory":   "LDAP sync returns snapshots; the gateway decides what they do",
	"mail":        "an SMTP sender and templates; no project state",
	"signin":      "an OIDC relying party; the gateway maps identities to users",
}

// forbidden lists, per package, project packages it must not import.
var forbidden = map[string]map[string]string{
	"session":  {"proxy": "the table is what the proxy fills, not the other way", "gateway": "only cmd imports the lifecycle package", "store": "sessions live in memory; the audit records them"},
	"proxy":    {"gateway": "the proxy is told how to identify and authorize through functions", "store": "the data path never waits on the database", "audit": "records go through the session table's hooks"},
	"config":   {"gateway": "an immutable config is built before the gateway", "adminapi": "the API reads the gateway, not the file", "store": "config is parsed before the state opens"},
	"audit":    {"gateway": "the audit writer serves the gateway, not the reverse", "proxy": "off the data path"},
	"certs":    {"gateway": "certificates are provisioned from values, not from the daemon", "config": "certs take plain values, so they stay testable alone"},
	"store":    {"gateway": "storage knows no daemon", "adminapi": "storage knows no HTTP", "config": "the store takes a directory"},
	"adminapi": {"gateway": "handlers see the gateway only through Backend, so they can be tested against a fake"},
	"enroll":   {"gateway": "the public pages see the gateway only through Backend", "adminapi": "the internet-facing listener shares no code path with the admin API"},
	"bundle":   {"gateway": "home-user files are built from a profile"},
	"portmap":  {"gateway": "router port mapping stands alone", "store": "a mapping is renewed, never stored", "config": "it takes plain values"},
	"office":   {"gateway": "invitations go through the daemon's API, as the CLI does"},
	"doctor":   {"gateway": "the doctor checks a running daemon from outside, through its API, as a person would", "store": "it must not open the daemon's database"},
}

type pkg struct {
	ImportPath string
	Imports    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestDependenciesPointOneWay(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	for _, p := range pkgs {
		name := strings.TrimPrefix(p.ImportPath, mod)
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			dep := strings.TrimPrefix(imp, mod)
			if name == "portmap" && dep == "ddns" {
				continue // the router's external address is one ddns source among others
			}
			if why, ok := leaves[name]; ok && !strings.HasPrefix(dep, name+"/") && !strings.HasPrefix(dep, "internal/") {
				t.Errorf("%s imports %s: %s", name, dep, why)
			}
			if why, ok := forbidden[name][dep]; ok {
				t.Errorf("%s imports %s: %s", name, dep, why)
			}
			if dep == "gateway" && !strings.HasPrefix(name, "cmd/") && name != "bench" && !strings.HasPrefix(name, "gateway/") && name != "internal/interop" && name != "internal/demo" {
				t.Errorf("%s imports gateway: only cmd (and the demo, the bench and test harnesses) may; the lifecycle package is the top", name)
			}
		}
	}
}
