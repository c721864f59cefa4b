package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licgate/licgate/internal/licsim"
)

// TestServeLifecycle runs `licgate serve` as its own process: it starts
// from a config file, answers the CLI over a 0600 socket, and stops
// cleanly on SIGTERM, removing the socket.
func TestServeLifecycle(t *testing.T) {
	if os.Getenv("LICGATE_SERVE_CHILD") != "" {
		os.Exit(run(os.Args[len(os.Args)-3:], os.Stdout, os.Stderr))
	}
	srv := &licsim.Server{Seats: 1}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir, err := os.MkdirTemp("", "lgs")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "licgate.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("state_dir: %s\ntunnel:\n  listen_port: 0\n  endpoint: 127.0.0.1\nservices:\n  - name: codemeter\n    port: 22350\n    upstream: %s\n", dir, srv.Addr())), 0o600)
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeLifecycle$", "serve", "-c", cfg)
	cmd.Env = append(os.Environ(), "LICGATE_SERVE_CHILD=1")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sock := filepath.Join(dir, "licgate.sock")
	var out string
	for i := 0; i < 200; i++ {
		var code int
		if out, code = cli(t, "user", "add", "alice", "-c", cfg); code == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(out, "user alice added") {
		t.Fatalf("daemon never answered: %s\n%s", out, logs.String())
	}
	st, err := os.Stat(sock)
	if err != nil || st.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode: %v %v (want 0660: owner and the state directory's group)", st.Mode(), err)
	}
	key, err := os.Stat(filepath.Join(dir, "wireguard.key"))
	if err != nil || key.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", key, err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exit: %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
	if !strings.Contains(logs.String(), "licgate started") || !strings.Contains(logs.String(), "licgate stopped") {
		t.Fatalf("logs:\n%s", logs.String())
	}
}

// serve --print-routing prints the rules source: tunnel needs, and the
// route the LAN needs, without starting anything.
func TestServePrintRouting(t *testing.T) {
	out, code := cli(t, "serve", "--print-routing", "-c", filepath.Join(t.TempDir(), "none.yaml"))
	for _, want := range []string{"lookup 1044", "route add local 10.44.0.0/24", "route -p add 10.44.0.0 mask 255.255.255.0"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("%d: %q missing:\n%s", code, want, out)
		}
	}
}
