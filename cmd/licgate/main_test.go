package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/gateway/gatewaytest"
	"github.com/licgate/licgate/tunnel"
)

// TestDemoOnce runs `licgate demo --once` as a user would.
func TestDemoOnce(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	var out, errOut bytes.Buffer
	if code := run([]string{"demo", "--once"}, &out, &errOut); code != 0 {
		t.Fatalf("demo exited %d\n%s\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"Seats in use on the server: 1 of 3", "UDP server search", "no handshake, no connection",
		"seats in use on the server: 0 of 3", "Demo complete"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}

func cli(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return out.String() + errOut.String(), code
}

func TestCLIAgainstDaemon(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t)
	sock := "-socket=" + h.Config.Socket
	if out, code := cli(t, "user", "add", "alice", "--email", "alice@example.com", sock); code != 0 || !strings.Contains(out, "user alice added") {
		t.Fatalf("user add: %d %s", code, out)
	}
	if out, code := cli(t, "user", "add", "alice", sock); code != 1 || !strings.Contains(out, "already exists") {
		t.Fatalf("duplicate user: %d %s", code, out)
	}
	if out, code := cli(t, "user", "list", sock); code != 0 || !strings.Contains(out, "alice@example.com") {
		t.Fatalf("user list: %d %s", code, out)
	}
	prefix := filepath.Join(t.TempDir(), "alice-laptop")
	out, code := cli(t, "device", "add", "alice", "laptop", "--out", prefix, sock)
	if code != 0 || !strings.Contains(out, "[Interface]") || !strings.Contains(out, "scan with the WireGuard app") {
		t.Fatalf("device add: %d %s", code, out)
	}
	st, err := os.Stat(prefix + ".conf")
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("profile file: %v %v", st, err)
	}
	if _, err := os.Stat(prefix + ".png"); err != nil {
		t.Fatal(err)
	}
	// The written profile works: take a seat with it, see the session.
	text, _ := os.ReadFile(prefix + ".conf")
	p, err := tunnel.ParseProfile(string(text))
	if err != nil {
		t.Fatal(err)
	}
	c := h.StartClient("alice", "laptop", p)
	lc := c.TakeSeat(t)
	defer lc.Close()
	if out, code := cli(t, "sessions", sock); code != 0 || !strings.Contains(out, "alice") || !strings.Contains(out, "codemeter") {
		t.Fatalf("sessions: %d %s", code, out)
	}
	if out, code := cli(t, "peers", sock); code != 0 || !strings.Contains(out, "laptop") || strings.Contains(out, "never") {
		t.Fatalf("peers: %d %s", code, out)
	}
	if out, code := cli(t, "device", "list", sock); code != 0 || !strings.Contains(out, "10.44.0.2") {
		t.Fatalf("device list: %d %s", code, out)
	}
	rekeyPrefix := filepath.Join(t.TempDir(), "alice-new")
	if out, code := cli(t, "device", "rekey", "alice", "laptop", "--out", rekeyPrefix, "--no-qr", sock); code != 0 || !strings.Contains(out, "the old profile no longer works") {
		t.Fatalf("rekey: %d %s", code, out)
	}
	if !h.Server.WaitInUse(0, 5*time.Second) {
		t.Fatal("the old key's session survived the rekey")
	}
	newText, _ := os.ReadFile(rekeyPrefix + ".conf")
	np, err := tunnel.ParseProfile(string(newText))
	if err != nil || np.PrivateKey == p.PrivateKey || np.Address != p.Address {
		t.Fatalf("rekeyed profile: %v", err)
	}
	lc = h.StartClient("alice", "laptop", np).TakeSeat(t)
	defer lc.Close()
	if out, code := cli(t, "device", "revoke", "alice", "laptop", sock); code != 0 || !strings.Contains(out, "1 live session(s) cut") {
		t.Fatalf("revoke: %d %s", code, out)
	}
	if !h.Server.WaitInUse(0, 5*time.Second) {
		t.Fatal("seat not released after CLI revoke")
	}
	if out, code := cli(t, "device", "add", "nobody", "pc", sock); code != 1 || !strings.Contains(out, "not found") {
		t.Fatalf("device for unknown user: %d %s", code, out)
	}
	if out, code := cli(t, "device", "add", "alice", "pc", "--public-key", "garbage", sock); code != 1 || !strings.Contains(out, "public key") {
		t.Fatalf("bad public key: %d %s", code, out)
	}
	if out, code := cli(t, "frobnicate"); code != 2 || !strings.Contains(out, "unknown command") {
		t.Fatalf("unknown command: %d %s", code, out)
	}
}

func TestCLIWithoutDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	out, code := cli(t, "sessions", "-socket", sock)
	if code != 1 || !strings.Contains(out, "licgate is not running") || !strings.Contains(out, sock) {
		t.Fatalf("%d %s", code, out)
	}
	// A bad config is reported with its place.
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(cfg, []byte("tunnel:\n  mode: carrier-pigeon\n"), 0o600)
	out, code = cli(t, "user", "list", "-c", cfg)
	if code != 1 || !strings.Contains(out, "bad.yaml:2: tunnel.mode") {
		t.Fatalf("%d %s", code, out)
	}
}

// TestDependencyDirection holds the layering: cmd -> gateway -> {tunnel,

func TestCLISessionsCutGroupsCA(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t, gatewaytest.Policy("policy:\n  groups:\n    admins: [alice]\n  rules:\n    - {action: allow, who: [\"*\"]}\n"))
	sock := "-socket=" + h.Config.Socket
	lc := h.AddDevice("alice", "laptop").TakeSeat(t)
	defer lc.Close()
	ss := h.GW.Sessions()
	if len(ss) != 1 {
		t.Fatalf("sessions %+v", ss)
	}
	if out, code := cli(t, "sessions", "cut", fmt.Sprint(ss[0].ID), sock); code != 0 || !strings.Contains(out, "cut") {
		t.Fatalf("cut: %d %s", code, out)
	}
	if !h.Server.WaitInUse(0, 5*time.Second) {
		t.Fatal("cut session kept its seat")
	}
	if out, code := cli(t, "sessions", "cut", "999", sock); code != 1 || !strings.Contains(out, "no live session 999") {
		t.Fatalf("cut unknown: %d %s", code, out)
	}
	if out, code := cli(t, "groups", sock); code != 0 || !strings.Contains(out, "admins") || !strings.Contains(out, "alice") {
		t.Fatalf("groups: %d %s", code, out)
	}
	if out, code := cli(t, "ca", sock); code != 0 || !strings.HasPrefix(out, "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("ca: %d %s", code, out)
	}
}
