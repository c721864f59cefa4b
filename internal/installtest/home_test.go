package installtest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licgate/licgate/internal/netnstest"
)

// home is a home computer on the internet: the internet namespace's
// network, and a mount namespace of its own with a private
// /run/wireguard, so its wg-quick tunnel (wireguard-go's socket is
// /run/wireguard/NAME.sock) never meets another test's of the same name.
type home struct {
	t      *testing.T
	ns     *netnstest.NS
	holder *exec.Cmd
	done   chan struct{}
	dir    string // the user's downloads
	env    []string
	calls  string // what the stand-in cmu was asked
}

var wgEnv = []string{"WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go", "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1"}

func newHome(t *testing.T, ns *netnstest.NS) *home {
	t.Helper()
	h := &home{t: t, ns: ns, dir: t.TempDir(), done: make(chan struct{})}
	if err := os.MkdirAll("/run/wireguard", 0o755); err != nil {
		t.Fatal(err)
	}
	h.holder = ns.Cmd("unshare", "-m", "--propagation", "private", "--",
		"sh", "-c", "mount -t tmpfs tmpfs /run/wireguard && echo ready && exec sleep 3600")
	out, err := h.holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	h.holder.Stderr = os.Stderr
	if err := h.holder.Start(); err != nil {
		t.Fatalf("installtest: home: %v", err)
	}
	go func() { h.holder.Wait(); close(h.done) }()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("installtest: home mount namespace: %q %v", line, err)
	}
	t.Cleanup(func() {
		h.holder.Process.Signal(syscall.SIGKILL)
		<-h.done
	})

	// CodeMeter's cmu, standing in: it records what the helper asks.
	bin := t.TempDir()
	h.calls = filepath.Join(bin, "cmu.log")
	servers := filepath.Join(bin, "servers")
	mustWrite(t, filepath.Join(bin, "cmu"), fmt.Sprintf(`#!/bin/sh
echo "$*" >> %[1]s
case "$1" in
--list-server) cat %[2]s 2>/dev/null ;;
--add-server) echo "$2" >> %[2]s ;;
--delete-server) grep -v "^$2\$" %[2]s > %[2]s.new; mv %[2]s.new %[2]s ;;
esac
`, h.calls, servers), 0o755)
	h.env = append([]string{"PATH=" + bin + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LICGATE_WG_DIR=" + t.TempDir(), "LICGATE_LIB_DIR=" + t.TempDir(), "LICGATE_NO_SYSTEMD=1"}, wgEnv...)
	return h
}

// Run runs a command on the home computer as root (the helper is run
// with sudo).
func (h *home) Run(args ...string) (string, error) {
	c := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(h.holder.Process.Pid), "-m", "-n", "--", "env"}, append(h.env, args...)...)...)
	var b lockedBuffer
	c.Stdout, c.Stderr = &b, &b
	if err := c.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		return b.String(), err
	case <-time.After(60 * time.Second):
		c.Process.Kill()
		<-done
		return b.String(), fmt.Errorf("installtest: home: %s: still running after 60s", strings.Join(args, " "))
	}
}
