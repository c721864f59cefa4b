package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/gateway/gatewaytest"
)

// cli2 runs the CLI and returns stdout, stderr and the exit status apart.
func cli2(args ...string) (string, string, int) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// TestHelpForEveryCommand: every command and group of the table answers
// `help X`, `X --help` and `X -h` (also after its arguments) with its
// usage on stdout and exit status 0.
func TestHelpForEveryCommand(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		out, errOut, code := cli2(args...)
		if code != 0 || errOut != "" || !strings.Contains(out, "usage: licgate COMMAND") {
			t.Errorf("licgate %v: %d\n%s%s", args, code, out, errOut)
		}
	}
	for _, c := range commands {
		words := strings.Fields(c.name)
		variants := [][]string{
			append([]string{"help"}, words...),
			append(append([]string{}, words...), "--help"),
			append(append([]string{}, words...), "-h"),
		}
		if c.nargs > 0 {
			withArgs := append([]string{}, words...)
			for range c.nargs {
				withArgs = append(withArgs, "x")
			}
			variants = append(variants, append(withArgs, "-h"))
		}
		for _, args := range variants {
			out, errOut, code := cli2(args...)
			if code != 0 || errOut != "" {
				t.Errorf("licgate %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
				continue
			}
			if !strings.Contains(out, "usage: licgate "+c.name) || !strings.Contains(out, c.short) {
				t.Errorf("licgate %s: usage does not name the command:\n%s", strings.Join(args, " "), out)
			}
			if c.setup != nil && c.daemon && !strings.Contains(out, "-socket") {
				t.Errorf("licgate %s: a daemon command's help lacks -socket:\n%s", strings.Join(args, " "), out)
			}
		}
	}
	// The top-level usage lists every command.
	top, _, _ := cli2("--help")
	for _, c := range commands {
		if c.setup != nil && !strings.Contains(top, "  "+c.name) {
			t.Errorf("licgate --help does not list %q", c.name)
		}
	}
}

// TestUsageErrors: unknown commands, subcommands and flags, and wrong
// argument counts print usage on stderr and exit 2.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage: licgate COMMAND"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"--bogus"}, `no command in "--bogus"`},
		{[]string{"device", "list", "--all", "frob"}, "takes 0 argument(s), got 1"},
		{[]string{"user"}, "usage: licgate user COMMAND"},
		{[]string{"user", "frob"}, `licgate user: unknown command "frob"`},
		{[]string{"user", "list", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"user", "add"}, "usage: licgate user add NAME"},
		{[]string{"user", "add", "a", "b"}, "takes 1 argument(s), got 2"},
		{[]string{"device", "add", "alice"}, "usage: licgate device add USER NAME"},
		{[]string{"sessions", "frob"}, `unknown command "frob"`},
		{[]string{"ddns", "update"}, "needs --now"},
		{[]string{"policy", "explain", "--user", "alice"}, "--user and --service are required"},
		{[]string{"device", "add", "alice", "pc", "--out", "/tmp/x", "--public-key", "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXphYmNkZWY="}, "exclude each other"},
		{[]string{"help", "frob"}, `no command "frob"`},
	} {
		out, errOut, code := cli2(tc.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "usage: licgate") {
			t.Errorf("licgate %v: exit %d (want 2), stdout %q, stderr:\n%s", tc.args, code, out, errOut)
		}
	}
}

// TestFlagsBeforeCommandWords: -c and -socket may precede the words.
func TestFlagsBeforeCommandWords(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	for _, args := range [][]string{
		{"-socket", sock, "user", "list"},
		{"user", "-socket", sock, "list"},
		{"users", "list", "--socket=" + sock},
		{"user", "--json", "list", "-socket", sock},
	} {
		_, errOut, code := cli2(args...)
		if code != 1 || !strings.Contains(errOut, "licgate user list: licgate is not running") {
			t.Errorf("%v: %d %s", args, code, errOut)
		}
	}
	// A flag's value before the command words is not taken for a word.
	for _, args := range [][]string{
		{"user", "--email", "a@example.com", "add", "alice", "-socket", sock},
		{"device", "--out", filepath.Join(t.TempDir(), "pc"), "add", "alice", "pc", "-socket", sock},
	} {
		_, errOut, code := cli2(args...)
		if code != 1 || !strings.Contains(errOut, " add: licgate is not running") {
			t.Errorf("%v: %d %s", args, code, errOut)
		}
	}
}

// TestJSONListings: every listing of the table takes --json and prints
// JSON that parses, against a real daemon with a live session.
func TestJSONListings(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t, gatewaytest.Policy("policy:\n  groups:\n    admins: [alice]\n  rules:\n    - {action: allow, who: [\"*\"]}\n"))
	sock := "-socket=" + h.Config.Socket
	lc := h.AddDevice("alice", "laptop").TakeSeat(t)
	defer lc.Close()
	listings := 0
	for _, c := range commands {
		if c.setup == nil {
			continue
		}
		fs, _, _ := newFlagSet(&c, io.Discard, io.Discard)
		if !c.listing {
			if c.daemon && fs.Lookup("json") == nil && strings.HasSuffix(c.synopsis, "[--json]") {
				t.Errorf("%s: synopsis says --json but it has no such flag", c.name)
			}
			continue
		}
		listings++
		if fs.Lookup("json") == nil {
			t.Errorf("%s is a listing without --json", c.name)
			continue
		}
		args := append(strings.Fields(c.name), "--json", sock)
		if c.name == "ddns update" {
			args = append(args, "--now")
		}
		out, errOut, code := cli2(args...)
		if c.name == "ddns update" || c.name == "directory sync" {
			// Not configured here: the daemon says so, nothing is printed.
			if code != 1 || !strings.Contains(errOut, strings.Fields(c.name)[0]) {
				t.Errorf("%s without it configured: %d %s", c.name, code, errOut)
			}
			continue
		}
		if code != 0 || !json.Valid([]byte(out)) {
			t.Errorf("licgate %s: exit %d, not JSON:\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}
	if listings < 10 {
		t.Fatalf("only %d listings in the table", listings)
	}
	// The contents, for a few.
	out, _, _ := cli2("groups", "--json", sock)
	var gs []adminapi.GroupView
	if err := json.Unmarshal([]byte(out), &gs); err != nil || len(gs) != 1 || gs[0].Name != "admins" || gs[0].Members[0] != "alice" {
		t.Errorf("groups --json: %v %s", err, out)
	}
	out, _, _ = cli2("sessions", "--json", sock)
	var ss []map[string]any
	if err := json.Unmarshal([]byte(out), &ss); err != nil || len(ss) != 1 || ss[0]["user"] != "alice" {
		t.Errorf("sessions --json: %v %s", err, out)
	}
	// The same listing without --json is a table.
	if out, _, code := cli2("groups", sock); code != 0 || !strings.HasPrefix(out, "GROUP") || !strings.Contains(out, "alice") {
		t.Errorf("groups table: %d %s", code, out)
	}
	if out, _, code := cli2("status", sock); code != 0 || !strings.Contains(out, "licgate is running") || !strings.Contains(out, "live sessions: 1") {
		t.Errorf("status: %d %s", code, out)
	}
	if out, _, code := cli2("services", sock); code != 0 || !strings.Contains(out, "codemeter") || !strings.Contains(out, "22350") {
		t.Errorf("services table: %d %s", code, out)
	}
}

// TestReloadShowsRestartNeeded: a changed setting that needs a restart is
// named to the user, and in --json.
func TestReloadShowsRestartNeeded(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t)
	sock := "-socket=" + h.Config.Socket
	data, err := os.ReadFile(h.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.ConfigPath, append(data, "log_level: debug\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := cli2("policy", "reload", sock)
	if code != 0 || !strings.Contains(out, "0 live session(s)") || !strings.Contains(out, "restart needed: log_level") {
		t.Fatalf("reload: %d %s%s", code, out, errOut)
	}
	out, _, code = cli2("policy", "reload", "--json", sock)
	var r adminapi.ReloadResult
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || len(r.RestartNeeded) != 1 || r.RestartNeeded[0] != "log_level" {
		t.Fatalf("reload --json: %d %s", code, out)
	}
}

// TestValidationBeforeTheDaemon: bad arguments are refused before the CLI
// dials: with no daemon at all the error is the argument's, not "not
// running".
func TestValidationBeforeTheDaemon(t *testing.T) {
	dir := t.TempDir()
	sock := "-socket=" + filepath.Join(dir, "none.sock")
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "add", "Alice Smith"}, `user name "Alice Smith"`},
		{[]string{"user", "add", "alice", "--email", "alice"}, `--email "alice"`},
		{[]string{"user", "disable", "-x"}, "flag provided but not defined"},
		{[]string{"user", "enable", "ALICE"}, `user name "ALICE"`},
		{[]string{"user", "expire", "alice", "tomorrow"}, `expires "tomorrow"`},
		{[]string{"user", "expire", "Al", "never"}, `user name "Al"`},
		{[]string{"device", "add", "alice", "Laptop"}, `device name "Laptop"`},
		{[]string{"device", "add", "alice", "pc", "--public-key", "garbage"}, "not a WireGuard public key"},
		{[]string{"device", "add", "alice", "pc", "--out", filepath.Join(dir, "alice-laptop-at-home")}, `"alice-laptop-at-home" becomes the WireGuard interface name`},
		{[]string{"device", "add", "alice", "pc", "--out", filepath.Join(dir, "a b")}, "interface name"},
		{[]string{"device", "add", "alice", "pc", "--out", filepath.Join(dir, "missing", "pc")}, "no such file or directory"},
		{[]string{"device", "add", "alice", "pc", "--out", filepath.Join(notDir, "pc")}, "is not a directory"},
		{[]string{"device", "add", "alice", "pc", "--out", "/proc/pc"}, "cannot write in /proc"},
		{[]string{"device", "add", "alice", "pc", "--link", "--ttl", "forever"}, `--ttl "forever"`},
		{[]string{"device", "add", "alice", "pc", "--link", "--ttl", "31d"}, `--ttl "31d"`},
		{[]string{"device", "rekey", "alice", "pc", "--out", dir + "/"}, "interface name"},
		{[]string{"device", "revoke", "alice", "PC"}, `device name "PC"`},
		{[]string{"device", "expire", "alice", "pc", "31.12.2026"}, `expires "31.12.2026"`},
		{[]string{"sessions", "cut", "abc"}, `session ID "abc"`},
		{[]string{"denials", "--since", "a while"}, `--since "a while"`},
		{[]string{"report", "--from", "last tuesday"}, "is not a time"},
		{[]string{"report", "--to", "soon"}, "--to: "},
		{[]string{"report", "--by", "colour"}, `--by "colour"`},
		{[]string{"report", "--format", "xml"}, `--format "xml"`},
		{[]string{"policy", "explain", "--user", "Bob", "--service", "codemeter"}, `user name "Bob"`},
	} {
		out, errOut, code := cli2(append(tc.args, sock)...)
		if code == 0 || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "not running") {
			t.Errorf("licgate %v: exit %d, want an error with %q:\n%s%s", tc.args, code, tc.want, out, errOut)
		}
	}
}

// TestDeviceAddBadOutLeavesNoDevice: the prefix the bundle cannot use is
// refused before the device exists; a good one works.
func TestDeviceAddBadOutLeavesNoDevice(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t)
	sock := "-socket=" + h.Config.Socket
	if _, errOut, code := cli2("user", "add", "alice", sock); code != 0 {
		t.Fatal(errOut)
	}
	dir := t.TempDir()
	for _, out := range []string{filepath.Join(dir, "alice-laptop-at-home"), filepath.Join(dir, "nodir", "pc"), "/proc/pc"} {
		if _, errOut, code := cli2("device", "add", "alice", "laptop", "--out", out, sock); code != 1 || !strings.Contains(errOut, "--out") {
			t.Fatalf("--out %s: %d %s", out, code, errOut)
		}
	}
	ctx := context.Background()
	c := adminapi.NewClient(h.Config.Socket)
	ds, err := c.Devices(ctx, true)
	if err != nil || len(ds) != 0 {
		t.Fatalf("a refused device add left devices: %v %v", ds, err)
	}
	if _, errOut, code := cli2("device", "add", "alice", "laptop", "--out", filepath.Join(dir, "work"), "--no-qr", sock); code != 0 {
		t.Fatalf("good --out: %s", errOut)
	}
	ds, _ = c.Devices(ctx, true)
	if len(ds) != 1 {
		t.Fatalf("devices: %v", ds)
	}
	// A rekey with a bad prefix keeps the old key.
	if _, errOut, code := cli2("device", "rekey", "alice", "laptop", "--out", filepath.Join(dir, "this-is-too-long"), sock); code != 1 || !strings.Contains(errOut, "interface name") {
		t.Fatalf("rekey: %d %s", code, errOut)
	}
	after, _ := c.Devices(ctx, true)
	if len(after) != 1 || after[0].PublicKey != ds[0].PublicKey {
		t.Fatalf("a refused rekey changed the key: %v -> %v", ds, after)
	}
	// Bad dates change nothing either.
	if _, _, code := cli2("user", "expire", "alice", "tomorrow", sock); code != 1 {
		t.Fatal("bad expiry accepted")
	}
	us, _ := c.Users(ctx)
	if len(us) != 1 || us[0].Expires != nil {
		t.Fatalf("users: %+v", us)
	}
}

// TestDialErrors: the classification of dial errors, from synthesized
// ones as net.Dial returns them.
func TestDialErrors(t *testing.T) {
	sock := "/var/lib/licgate/licgate.sock"
	dialErr := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "unix", Addr: &net.UnixAddr{Name: sock, Net: "unix"},
			Err: os.NewSyscallError("connect", errno)}
	}
	err := adminapi.ExplainDialError(sock, dialErr(syscall.EACCES))
	if !errors.Is(err, adminapi.ErrNoAccess) || !errors.Is(err, fs.ErrPermission) || errors.Is(err, adminapi.ErrNotRunning) {
		t.Errorf("EACCES: %v", err)
	}
	for _, want := range []string{"permission denied on " + sock, "run as root", "sudo usermod -aG licgate $USER", "0660"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("EACCES message lacks %q: %v", want, err)
		}
	}
	err = adminapi.ExplainDialError(sock, dialErr(syscall.ENOENT))
	if !errors.Is(err, adminapi.ErrNotRunning) || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "systemctl start licgate") {
		t.Errorf("ENOENT: %v", err)
	}
	err = adminapi.ExplainDialError(sock, dialErr(syscall.ECONNREFUSED))
	if !errors.Is(err, adminapi.ErrNotRunning) || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "systemctl restart licgate") {
		t.Errorf("ECONNREFUSED: %v", err)
	}
	err = adminapi.ExplainDialError(sock, dialErr(syscall.ETIMEDOUT))
	if errors.Is(err, adminapi.ErrNotRunning) || !errors.Is(err, syscall.ETIMEDOUT) {
		t.Errorf("ETIMEDOUT: %v", err)
	}
}

// TestStaleSocket: a socket file nobody listens on is reported as stale.
func TestStaleSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	_, errOut, code := cli2("sessions", "-socket", sock)
	if code != 1 || !strings.Contains(errOut, "connection refused") || !strings.Contains(errOut, "restart") {
		t.Fatalf("%d %s", code, errOut)
	}
}

// TestSocketPermissionDenied: a user who may not open the socket is told
// so and how to fix it. As root it runs the CLI as nobody in a child.
func TestSocketPermissionDenied(t *testing.T) {
	if sock := os.Getenv("LICGATE_PERM_CHILD"); sock != "" {
		os.Exit(run([]string{"sessions", "-socket", sock}, os.Stdout, os.Stderr))
	}
	dir, err := os.MkdirTemp("", "lgp")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	sock := filepath.Join(dir, "licgate.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if os.Getuid() != 0 {
		os.Chmod(sock, 0)
		_, errOut, code := cli2("sessions", "-socket", sock)
		if code != 1 || !strings.Contains(errOut, "permission denied on "+sock) || !strings.Contains(errOut, "usermod -aG") {
			t.Fatalf("%d %s", code, errOut)
		}
		return
	}
	os.Chmod(sock, 0o660) // root:root: nobody is neither
	// The test binary may sit in a directory only root can enter.
	bin := filepath.Join(dir, "licgate.test")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestSocketPermissionDenied$")
	cmd.Env = append(os.Environ(), "LICGATE_PERM_CHILD="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("child as nobody: %v\n%s", err, out)
	}
	for _, want := range []string{"permission denied on " + sock, "run as root", "usermod -aG", "0660"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestServeCheck: `serve --check` validates without starting anything.
func TestServeCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "licgate.yaml")
	os.WriteFile(good, []byte("state_dir: "+dir+"\nservices:\n  - name: codemeter\n    port: 22350\n    upstream: 192.168.1.10\n"+
		"policy:\n  rules:\n    - {action: allow, who: [\"*\"]}\n  tests:\n    - {user: bob, service: codemeter, at: \"2026-12-01T10:00\", expect: allow}\n"), 0o600)
	out, errOut, code := cli2("serve", "--check", "-c", good)
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, good+": ok: services codemeter; 1 rules, 0 groups, 1 policy tests passed") {
		t.Fatalf("good: %d %q %s", code, out, errOut)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("--check created files: %v", ents)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("tunnel:\n  mode: carrier-pigeon\n"), 0o600)
	if out, errOut, code := cli2("serve", "-c", bad, "--check"); code != 1 || out != "" || !strings.Contains(errOut, "bad.yaml:2: tunnel.mode") {
		t.Fatalf("bad: %d %s %s", code, out, errOut)
	}
	failing := filepath.Join(dir, "failing.yaml")
	os.WriteFile(failing, []byte("policy:\n  rules:\n    - {action: deny, who: [\"*\"]}\n  tests:\n    - {user: bob, service: codemeter, at: \"2026-12-01T10:00\", expect: allow}\n"), 0o600)
	if _, errOut, code := cli2("serve", "--check", "-c", failing); code != 1 || !strings.Contains(errOut, "failing.yaml:") {
		t.Fatalf("failing policy test: %d %s", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, errOut, code := cli2(args...)
		if code != 0 || errOut != "" || !strings.HasPrefix(out, "licgate ") || !strings.Contains(out, runtime.Version()) ||
			!strings.Contains(out, runtime.GOOS+"/"+runtime.GOARCH) {
			t.Errorf("%v: %d %q %q", args, code, out, errOut)
		}
	}
}

// TestTableIsConsistent: names are unique, groups exist for every
// subcommand, and every command has a description.
func TestTableIsConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range commands {
		if seen[c.name] {
			t.Errorf("%q twice", c.name)
		}
		seen[c.name] = true
		if c.short == "" {
			t.Errorf("%q has no description", c.name)
		}
		if w := strings.Fields(c.name); len(w) > 1 && lookup(strings.Join(w[:len(w)-1], " ")) == nil {
			t.Errorf("%q has no parent command", c.name)
		}
		if c.setup != nil {
			fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
			if c.setup(fs) == nil {
				t.Errorf("%q: setup returned no run function", c.name)
			}
		}
	}
}
