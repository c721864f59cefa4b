package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/internal/licsim"
)

// TestSetup: a fresh machine, driven by flags: setup checks the license
// server, writes a commented config that loads, the daemon starts from
// it; running setup again shows the settings, changes only what is asked
// (the first admin), reloads the daemon and enrols the admin's device.
func TestSetup(t *testing.T) {
	if os.Getenv("LICGATE_SETUP_CHILD") != "" {
		os.Exit(run(os.Args[len(os.Args)-3:], os.Stdout, os.Stderr))
	}
	srv := &licsim.Server{Seats: 1}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir, err := os.MkdirTemp("", "lgsetup")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "licgate.yaml")
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	// A license server that does not answer is named, the config is still made.
	out, code := cli(t, "setup", "-c", cfg, "--state-dir", dir, "--upstream", "127.0.0.1:1", "--public-name", "office.example.test",
		"--port", strconv.Itoa(port), "--portmap", "off", "--yes", "--no-service")
	if code != 0 || !strings.Contains(out, "127.0.0.1:1 does not answer") {
		t.Fatalf("setup with a dead upstream: %d %s", code, out)
	}
	// A bad answer changes nothing.
	before, _ := os.ReadFile(cfg)
	if out, code := cli(t, "setup", "-c", cfg, "--portmap", "maybe", "--yes", "--no-service"); code != 2 {
		t.Fatalf("bad --portmap: %d %s", code, out)
	}
	if after, _ := os.ReadFile(cfg); !bytes.Equal(before, after) {
		t.Fatal("a refused setup changed the config")
	}
	out, code = cli(t, "setup", "-c", cfg, "--upstream", srv.Addr().String(), "--yes", "--no-service")
	if code != 0 || !strings.Contains(out, srv.Addr().String()+" answers") || !strings.Contains(out, "forward UDP "+strconv.Itoa(port)) {
		t.Fatalf("setup: %d %s", code, out)
	}
	text, _ := os.ReadFile(cfg)
	if !strings.Contains(string(text), "# licgate configuration, written by") || !strings.Contains(string(text), "# may also use the admin console") {
		t.Fatalf("comments lost:\n%s", text)
	}
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Tunnel.Endpoint != "office.example.test" || c.Services[0].Upstream != srv.Addr().String() || c.ListenPort() != port || c.StateDir != dir {
		t.Fatalf("config: endpoint %q upstream %q port %d state %q", c.Tunnel.Endpoint, c.Services[0].Upstream, c.ListenPort(), c.StateDir)
	}
	// The daemon (as the service would run it).
	cmd := exec.Command(os.Args[0], "-test.run=^TestSetup$", "serve", "-c", cfg)
	cmd.Env = append(os.Environ(), "LICGATE_SETUP_CHILD=1")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	prefix := filepath.Join(dir, "alice-laptop")
	out, code = cli(t, "setup", "-c", cfg, "--admin", "alice", "--out", prefix, "--yes", "--no-service")
	if code != 0 || !strings.Contains(out, "Current settings") || !strings.Contains(out, "Admin alice enrolled") {
		t.Fatalf("setup --admin: %d %s\n%s", code, out, logs.String())
	}
	if _, err := os.Stat(prefix + ".conf"); err != nil {
		t.Fatalf("admin bundle: %v", err)
	}
	c2, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Tunnel.Endpoint != "office.example.test" || c2.Services[0].Upstream != srv.Addr().String() {
		t.Fatal("a later setup changed what it was not asked to")
	}
	var groups string
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(groups, "alice") && time.Now().Before(deadline) {
		groups, _ = cli(t, "groups", "-c", cfg)
	}
	if !strings.Contains(groups, "admins") || !strings.Contains(groups, "alice") {
		t.Fatalf("the daemon did not take the new admin: %s", groups)
	}
	// Again: idempotent.
	out, code = cli(t, "setup", "-c", cfg, "--admin", "alice", "--yes", "--no-service")
	if code != 0 || !strings.Contains(out, "already has device laptop") {
		t.Fatalf("setup again: %d %s", code, out)
	}
}
