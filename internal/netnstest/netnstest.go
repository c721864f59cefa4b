// Package netnstest builds small networks of Linux network namespaces for
// tests: hosts joined by veth pairs, commands run inside them with
// `ip netns exec`, and sockets opened inside them from this process (a
// socket belongs to the namespace it was created in, whichever thread
// uses it later). Everything is removed in the test's cleanup, also on
// failure.
//
// Tests need root, iproute2 and, for WireGuard, wireguard-tools and
// wireguard-go: without them they skip, unless CI is set, where a missing
// dependency fails the test.
package netnstest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/licgate/licgate/internal/testnet"
)

// Require skips (or, under CI, fails) unless the test can build
// namespaces and has the named programs.
func Require(tb testing.TB, progs ...string) {
	tb.Helper()
	if os.Geteuid() != 0 {
		testnet.Missing(tb, "network namespace tests need root")
	}
	for _, p := range append([]string{"ip"}, progs...) {
		if _, err := exec.LookPath(p); err != nil {
			testnet.Missing(tb, "%s is not installed (CI installs it: see .ci/run)", p)
		}
	}
}

var seq atomic.Int64

// NS is a network namespace.
type NS struct {
	Name string
	tb   testing.TB
}

// New creates a namespace with loopback up. The name gets a unique suffix.
func New(tb testing.TB, name string) *NS {
	tb.Helper()
	n := &NS{Name: fmt.Sprintf("lgt-%s-%d-%d", name, os.Getpid(), seq.Add(1)), tb: tb}
	run(tb, "ip", "netns", "add", n.Name)
	tb.Cleanup(func() {
		// Kill what still runs inside, then remove the namespace and its
		// /etc/netns directory.
		if out, err := exec.Command("ip", "netns", "pids", n.Name).Output(); err == nil {
			for _, pid := range strings.Fields(string(out)) {
				exec.Command("kill", "-9", pid).Run()
			}
		}
		exec.Command("ip", "netns", "del", n.Name).Run()
		os.RemoveAll(filepath.Join("/etc/netns", n.Name))
	})
	n.Run("ip", "link", "set", "lo", "up")
	return n
}

func run(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Cmd returns a command that runs inside the namespace.
func (n *NS) Cmd(args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
}

// Run runs a command inside the namespace and fails the test on error.
func (n *NS) Run(args ...string) string {
	n.tb.Helper()
	return run(n.tb, append([]string{"ip", "netns", "exec", n.Name}, args...)...)
}

// TryRun runs a command inside the namespace and returns its output and error.
func (n *NS) TryRun(env []string, args ...string) (string, error) {
	c := n.Cmd(args...)
	c.Env = append(os.Environ(), env...)
	var b bytes.Buffer
	c.Stdout, c.Stderr = &b, &b
	err := c.Run()
	return b.String(), err
}

// Do runs fn on a thread switched into the namespace: sockets fn creates
// live in the namespace for good.
func (n *NS) Do(fn func()) {
	n.tb.Helper()
	runtime.LockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		n.tb.Fatal(err)
	}
	defer orig.Close()
	target, err := os.Open(filepath.Join("/var/run/netns", n.Name))
	if err != nil {
		runtime.UnlockOSThread()
		n.tb.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		n.tb.Fatalf("setns %s: %v", n.Name, err)
	}
	defer func() {
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with this goroutine
			// rather than run other goroutines in the wrong namespace.
			return
		}
		runtime.UnlockOSThread()
	}()
	fn()
}

// SetResolver makes `ip netns exec` in n use nameserver (as
// /etc/netns/NAME/resolv.conf).
func (n *NS) SetResolver(nameserver string) {
	n.tb.Helper()
	dir := filepath.Join("/etc/netns", n.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		n.tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte("nameserver "+nameserver+"\noptions timeout:1 attempts:2\n"), 0o644); err != nil {
		n.tb.Fatal(err)
	}
}

// Link joins a and b with a veth pair and gives each end an address
// (CIDR). It returns the interface names in a and b.
func Link(tb testing.TB, a, b *NS, aAddr, bAddr string) (string, string) {
	tb.Helper()
	id := seq.Add(1)
	ai, bi := fmt.Sprintf("va%d", id), fmt.Sprintf("vb%d", id)
	run(tb, "ip", "link", "add", ai, "netns", a.Name, "type", "veth", "peer", "name", bi, "netns", b.Name)
	a.Run("ip", "addr", "add", aAddr, "dev", ai)
	b.Run("ip", "addr", "add", bAddr, "dev", bi)
	a.Run("ip", "link", "set", ai, "up")
	b.Run("ip", "link", "set", bi, "up")
	return ai, bi
}
