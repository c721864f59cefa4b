package installtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/licgate/licgate/internal/netnstest"
)

// machine is a Debian system booted with systemd as PID 1 by
// systemd-nspawn, on a copy-on-write overlay of the cached root file
// system, inside a network namespace the test made. Commands run in it
// through nsenter(1), as root, as a person at its console would.
type machine struct {
	t      *testing.T
	name   string
	root   string // the overlay's merged directory: the machine's /
	netns  *netnstest.NS
	cmd    *exec.Cmd
	exited chan struct{}
	leader int // PID 1 of the machine, as this host numbers it
	log    *lockedBuffer
	boots  int
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newMachine mounts an overlay of lower (never written) and returns the
// machine, not yet booted: prepare files in m.root, then Boot.
func newMachine(t *testing.T, name, lower string, ns *netnstest.NS) *machine {
	t.Helper()
	// systemd-nspawn keeps its per-machine state under /run/systemd/nspawn;
	// on a host whose init is not systemd that directory needs a file
	// system of its own (a tmpfs), or nspawn fails to set up the machine.
	nspawnRun := "/run/systemd/nspawn"
	if err := os.MkdirAll(nspawnRun, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := os.Stat("/run/systemd/system") // sd_booted(3): systemd is this host's init
	if hostSystemd := err == nil; !hostSystemd && !isMountPoint(nspawnRun) {
		if err := unix.Mount("tmpfs", nspawnRun, "tmpfs", 0, "mode=0755"); err != nil {
			t.Fatalf("installtest: tmpfs on %s: %v", nspawnRun, err)
		}
		// Left mounted: another test process may be using it; it is empty
		// once every machine is gone.
	}
	dir := t.TempDir()
	m := &machine{t: t, name: fmt.Sprintf("lgt-%s-%d", name, os.Getpid()), netns: ns, log: &lockedBuffer{}}
	upper, work := filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	m.root = filepath.Join(dir, "root")
	for _, d := range []string{upper, work, m.root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mount("overlay", m.root, "overlay", 0, "lowerdir="+lower+",upperdir="+upper+",workdir="+work); err != nil {
		t.Fatalf("installtest: overlay on %s: %v", m.root, err)
	}
	t.Cleanup(func() {
		m.poweroff()
		if t.Failed() {
			t.Logf("machine %s console:\n%s", m.name, tail(m.log.String(), 80))
		}
		if err := unix.Unmount(m.root, unix.MNT_DETACH); err != nil {
			t.Errorf("installtest: unmount %s: %v", m.root, err)
		}
	})
	return m
}

func isMountPoint(dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// Boot starts systemd in the machine and waits until it has finished
// starting up (systemctl is-system-running --wait).
func (m *machine) Boot() {
	m.t.Helper()
	m.boots++
	fmt.Fprintf(m.log, "\n==== boot %d ====\n", m.boots)
	m.cmd = exec.Command("systemd-nspawn", "-D", m.root, "-b", "-M", m.name,
		// No systemd on this host to register with or to run a scope under.
		"--register=no", "--keep-unit",
		"--network-namespace-path=/run/netns/"+m.netns.Name,
		"--resolv-conf=off", "--timezone=off", "--link-journal=no", "--console=pipe")
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	m.cmd.Stdin = nil
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("installtest: systemd-nspawn: %v", err)
	}
	m.exited = make(chan struct{})
	go func(c *exec.Cmd, ch chan struct{}) { c.Wait(); close(ch) }(m.cmd, m.exited)

	deadline := time.Now().Add(60 * time.Second)
	m.leader = 0
	for m.leader == 0 {
		m.leader = m.findLeader()
		if m.leader != 0 {
			break
		}
		select {
		case <-m.exited:
			m.t.Fatalf("installtest: systemd-nspawn exited at boot (%v):\n%s", m.cmd.ProcessState, tail(m.log.String(), 40))
		case <-time.After(50 * time.Millisecond): // polling /proc for nspawn's child
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("installtest: no systemd in the machine after 60s:\n%s", tail(m.log.String(), 40))
		}
	}
	// systemctl answers once systemd has made its private socket;
	// before that it says "offline".
	for {
		if _, err := m.Exec(10*time.Second, "test -S /run/systemd/private"); err == nil {
			break
		}
		select {
		case <-m.exited:
			m.t.Fatalf("installtest: systemd-nspawn exited at boot (%v):\n%s", m.cmd.ProcessState, tail(m.log.String(), 40))
		case <-time.After(100 * time.Millisecond): // polling for the manager's socket
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("installtest: systemd in the machine made no /run/systemd/private within 60s:\n%s", tail(m.log.String(), 40))
		}
	}
	// is-system-running --wait returns when start-up is over: "running",
	// or "degraded" when a unit failed (reported, not fatal here: the
	// test checks the units it cares about).
	out, err := m.Exec(90*time.Second, "systemctl is-system-running --wait")
	state := strings.TrimSpace(out)
	if state != "running" && state != "degraded" {
		m.t.Fatalf("installtest: machine did not finish booting: %q %v\n%s", out, err, tail(m.log.String(), 40))
	}
	if state == "degraded" {
		failed, _ := m.Exec(20*time.Second, "systemctl --failed --no-legend --plain")
		m.t.Logf("machine booted degraded; failed units:\n%s", failed)
	}
}

// findLeader returns the PID of the machine's systemd: the child of
// systemd-nspawn that runs /lib/systemd/systemd.
func (m *machine) findLeader() int {
	pid := m.cmd.Process.Pid
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	for _, f := range strings.Fields(string(b)) {
		c, _ := strconv.Atoi(f)
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c)); err == nil && strings.TrimSpace(string(comm)) == "systemd" {
			return c
		}
	}
	return 0
}

// Exec runs a shell command line in the machine as root, in /root, with a
// login's environment, and returns its output. A command still running
// after within is killed.
func (m *machine) Exec(within time.Duration, line string) (string, error) {
	return m.ExecIn("/root", within, line)
}

func (m *machine) ExecIn(dir string, within time.Duration, line string) (string, error) {
	c := exec.Command("nsenter", "-t", strconv.Itoa(m.leader), "-m", "-u", "-i", "-n", "-p", "--",
		"/usr/bin/env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
		"LANG=C.UTF-8", "TERM=dumb", "USER=root", "LOGNAME=root",
		"/bin/sh", "-c", "cd "+dir+" && "+line)
	var b lockedBuffer
	c.Stdout, c.Stderr = &b, &b
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		return "", fmt.Errorf("installtest: nsenter: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		return b.String(), err
	case <-time.After(within):
		syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		<-done
		return b.String(), fmt.Errorf("installtest: %q still running after %s", line, within)
	}
}

// MustExec is Exec that fails the test on error.
func (m *machine) MustExec(line string) string {
	m.t.Helper()
	out, err := m.Exec(60*time.Second, line)
	if err != nil {
		m.t.Fatalf("in the machine: %s: %v\n%s", line, err, out)
	}
	return out
}

// Reboot restarts the machine as `systemctl reboot` does on a real one:
// systemd stops every unit, then exits; systemd-nspawn ends with 133
// ("reboot requested", which systemd-nspawn@.service restarts on), and the
// test boots it again on the same disk.
func (m *machine) Reboot() {
	m.t.Helper()
	m.Exec(10*time.Second, "systemctl reboot")
	select {
	case <-m.exited:
	case <-time.After(90 * time.Second):
		m.t.Fatalf("installtest: the machine did not shut down for the reboot:\n%s", tail(m.log.String(), 40))
	}
	if code := m.cmd.ProcessState.ExitCode(); code != 133 {
		m.t.Errorf("systemd-nspawn exited %d on reboot, want 133 (reboot requested)", code)
	}
	m.Boot()
}

// poweroff shuts the machine down (SIGTERM to systemd-nspawn makes its
// systemd power off), killing it if that takes too long.
func (m *machine) poweroff() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	select {
	case <-m.exited:
		return
	default:
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
		return
	case <-time.After(30 * time.Second):
	}
	// A second SIGTERM makes systemd-nspawn end the machine at once.
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(30 * time.Second):
		m.t.Errorf("installtest: machine %s did not stop on two SIGTERMs in 60s: killed", m.name)
		m.cmd.Process.Kill()
		if m.leader != 0 {
			syscall.Kill(m.leader, syscall.SIGKILL)
		}
		<-m.exited
	}
}
