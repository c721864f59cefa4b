package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licgate/licgate/gateway/gatewaytest"
)

const cliPolicy = `timezone: Europe/Berlin
groups:
  interns: [carol]
rules:
  - name: interns by day
    action: allow
    who: [group:interns]
    hours: ["Mon-Fri 08:00-18:00"]
  - {action: allow, who: [group:interns]}
tests:
  - {user: carol, service: codemeter, at: "2026-12-01T10:00", expect: allow}
`

func TestPolicyCheckAndExplainFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "policy.yaml")
	os.WriteFile(f, []byte(cliPolicy), 0o600)
	out, code := cli(t, "policy", "check", f, "--services", "codemeter")
	if code != 0 || !strings.Contains(out, "ok: 2 rules, 1 groups, 1 tests passed (time zone Europe/Berlin)") {
		t.Fatalf("check: %d %s", code, out)
	}
	out, code = cli(t, "policy", "explain", "--file", f, "--services", "codemeter", "--user", "carol", "--service", "codemeter", "--at", "2026-12-05T10:00")
	if code != 0 || !strings.Contains(out, "skipped: outside hours Mon-Fri 08:00-18:00") || !strings.Contains(out, "decision: ALLOW (allowed by rule 1)") {
		t.Fatalf("explain: %d %s", code, out)
	}
	// A broken policy names file and line; exit status 1.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(cliPolicy, "group:interns]\n    hours", "group:intern]\n    hours", 1)), 0o600)
	out, code = cli(t, "policy", "check", bad, "--services", "codemeter")
	if code != 1 || !strings.Contains(out, "bad.yaml:5: rule 0 (interns by day): who \"group:intern\": no such group") {
		t.Fatalf("bad: %d %s", code, out)
	}
	// A whole licgate.yaml is checked through its policy.
	cfg := filepath.Join(dir, "licgate.yaml")
	os.WriteFile(cfg, []byte("services:\n  - name: codemeter\n    port: 22350\n    upstream: 192.168.1.10\npolicy_file: policy.yaml\n"), 0o600)
	if out, code = cli(t, "policy", "check", cfg); code != 0 || !strings.Contains(out, "ok: 2 rules") {
		t.Fatalf("config check: %d %s", code, out)
	}
	// The shipped example config passes its own policy tests.
	if out, code = cli(t, "policy", "check", "../../deploy/licgate.example.yaml"); code != 0 {
		t.Fatalf("example config: %d %s", code, out)
	}
}

func TestPolicyAndReportAgainstDaemon(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t)
	sock := "-socket=" + h.Config.Socket
	c := h.AddDevice("alice", "laptop")
	lc := c.TakeSeat(t)
	lc.Close()
	h.WaitSessions(0, 5e9)
	if out, code := cli(t, "policy", "show", sock); code != 0 || !strings.Contains(out, "allow") || !strings.Contains(out, "*") {
		t.Fatalf("show: %d %s", code, out)
	}
	if out, code := cli(t, "policy", "explain", "--user", "alice", "--service", "codemeter", sock); code != 0 || !strings.Contains(out, "decision: ALLOW") {
		t.Fatalf("explain: %d %s", code, out)
	}
	if out, code := cli(t, "policy", "explain", "--user", "alice", "--service", "codemeter", "--at", "yesterday", sock); code != 1 || !strings.Contains(out, "is not a time") {
		t.Fatalf("explain bad time: %d %s", code, out)
	}
	out, code := cli(t, "report", "--from", "1d", sock)
	if code != 0 || !strings.Contains(out, "alice") || !strings.Contains(out, "peak concurrency in the period: 1") {
		t.Fatalf("report: %d %s", code, out)
	}
	out, code = cli(t, "report", "--from", "1d", "--format", "csv", "--by", "service", sock)
	if code != 0 || !strings.HasPrefix(out, "service,sessions,hours,peak,bytes_up,bytes_down\ncodemeter,1,") {
		t.Fatalf("csv: %d %s", code, out)
	}
	out, code = cli(t, "report", "--from", "1d", "--format", "json", sock)
	var rep map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep["by"] != "user" {
		t.Fatalf("json: %d %s", code, out)
	}
	if out, code := cli(t, "report", "--from", "last tuesday", sock); code != 1 || !strings.Contains(out, "is not a time") {
		t.Fatalf("bad from: %d %s", code, out)
	}
	if out, code := cli(t, "policy", "reload", sock); code != 0 || !strings.Contains(out, "0 live session(s)") {
		t.Fatalf("reload: %d %s", code, out)
	}
}
