//go:build linux

package main

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestSessionsUnreadableConfig: a user who may not read the config (0640,
// the daemon's group) running `licgate sessions` is told what
// docs/install.md says ("permission denied on .../licgate.sock: run ...
// with sudo"), not that the config is unreadable. As root it runs the CLI
// as nobody in a child, with the platform's default socket in a 0700
// state directory of the test's.
func TestSessionsUnreadableConfig(t *testing.T) {
	if cfg := os.Getenv("LICGATE_NOREAD_CHILD"); cfg != "" {
		defaultSocket = os.Getenv("LICGATE_NOREAD_SOCKET")
		os.Exit(run([]string{"sessions", "-c", cfg}, os.Stdout, os.Stderr))
	}
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs this as root (it runs a child as nobody)")
		}
		t.Skip("needs root: runs the CLI as nobody")
	}
	dir, err := os.MkdirTemp("", "lgnr")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(state, "licgate.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := filepath.Join(dir, "licgate.yaml")
	if err := os.WriteFile(cfg, []byte("state_dir: "+state+"\n"), 0o640); err != nil { // root:root: nobody may not read it
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "licgate.test") // the test binary may sit where only root can enter
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestSessionsUnreadableConfig$")
	cmd.Env = append(os.Environ(), "LICGATE_NOREAD_CHILD="+cfg, "LICGATE_NOREAD_SOCKET="+sock, "LICGATE_SOCKET=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("child as nobody: %v\n%s", err, out)
	}
	for _, want := range []string{"permission denied on " + sock, "with sudo"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("licgate sessions as nobody, config unreadable: output lacks %q:\n%s", want, out)
		}
	}
}
