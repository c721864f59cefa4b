package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licgate/licgate/internal/licsim"
)

// TestSetupPackagePath: the package installs deploy/licgate.example.yaml
// as the config, then IT runs setup (as docs/install.md's first path
// does). Setup takes that config over with the groups admins and staff,
// both allowed; the admin it enrols is in admins, and the daemon says
// ALLOW for it. The example's own policy tests still pass.
func TestSetupPackagePath(t *testing.T) {
	if os.Getenv("LICGATE_SETUPPKG_CHILD") != "" {
		os.Exit(run(os.Args[len(os.Args)-3:], os.Stdout, os.Stderr))
	}
	srv := &licsim.Server{Seats: 1}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir, err := os.MkdirTemp("", "lgpkg") // short: the socket path must fit
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "licgate.yaml")
	example, err := os.ReadFile("../../deploy/licgate.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, example, 0o640); err != nil {
		t.Fatal(err)
	}
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	out, code := cli(t, "setup", "-c", cfg, "--state-dir", dir, "--upstream", srv.Addr().String(), "--public-name", "office.example.test",
		"--port", strconv.Itoa(port), "--portmap", "off", "--yes", "--no-service")
	if code != 0 {
		t.Fatalf("setup on the package's example: %d %s", code, out)
	}
	if out, code := cli(t, "serve", "--check", "-c", cfg); code != 0 {
		t.Fatalf("serve --check after setup (the example's policy tests): %d %s", code, out)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSetupPackagePath$", "serve", "-c", cfg)
	cmd.Env = append(os.Environ(), "LICGATE_SETUPPKG_CHILD=1")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	out, code = cli(t, "setup", "-c", cfg, "--admin", "it", "--out", filepath.Join(dir, "it-laptop"), "--yes", "--no-service")
	if code != 0 || !strings.Contains(out, "Admin it enrolled") {
		t.Fatalf("setup --admin it: %d %s\n%s", code, out, logs.String())
	}
	text, _ := os.ReadFile(cfg)
	if n := strings.Count(string(text), "{name: staff, action: allow"); n != 1 {
		t.Errorf("%d staff rules after two setups:\n%s", n, text)
	}
	var explain string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(explain, "ALLOW") && time.Now().Before(deadline); {
		explain, _ = cli(t, "policy", "explain", "--user", "it", "--service", "codemeter", "-c", cfg)
	}
	if !strings.Contains(explain, "ALLOW") {
		t.Fatalf("policy explain --user it --service codemeter (daemon): %s\nconfig:\n%s", explain, text)
	}
	// A member of staff is allowed too.
	staff := strings.Replace(string(text), "staff: []", "staff: [hanna]", 1)
	if staff == string(text) {
		t.Fatalf("no staff group in the config:\n%s", text)
	}
	f := filepath.Join(dir, "staff.yaml")
	os.WriteFile(f, []byte(staff), 0o600)
	if out, _ := cli(t, "policy", "explain", "--user", "hanna", "--service", "codemeter", "--file", f); !strings.Contains(out, "ALLOW") {
		t.Errorf("a member of staff: %s", out)
	}
}

// TestSetupKeepsConfigOwner: setup rewrites the config as the package
// installed it (owner, group, mode): the packaged unit runs as user
// licgate and reads it through its group. As root (chown).
func TestSetupKeepsConfigOwner(t *testing.T) {
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs this as root (it chowns)")
		}
		t.Skip("needs root: chown")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "licgate.yaml")
	example, err := os.ReadFile("../../deploy/licgate.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, example, 0o600); err != nil {
		t.Fatal(err)
	}
	// As the package leaves it, with ids that differ from root's.
	if err := os.Chown(cfg, 0, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := cli(t, "setup", "-c", cfg, "--state-dir", dir, "--upstream", "127.0.0.1:1", "--public-name", "office.example.test",
		"--port", "0", "--portmap", "off", "--yes", "--no-service")
	if code != 0 || !strings.Contains(out, "Config written") {
		t.Fatalf("setup: %d %s", code, out)
	}
	st, err := os.Stat(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := st.Sys().(*syscall.Stat_t)
	if s.Uid != 0 || s.Gid != 65534 || st.Mode().Perm() != 0o644 {
		t.Fatalf("setup left the config %d:%d %o, want 0:65534 644 as it was", s.Uid, s.Gid, st.Mode().Perm())
	}
}
