package realpath

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// nsLab owns the network namespaces, WireGuard sockets, processes and
// files of the real-path section, and removes all of them in cleanup:
// on return, on error, on panic and on SIGINT/SIGTERM.
type nsLab struct {
	tag   string // unique per run: names of namespaces and interfaces
	dir   string
	mu    sync.Mutex
	nss   []string
	ifs   []string // WireGuard interface names (their UAPI sockets are global)
	procs []*exec.Cmd
	once  sync.Once
	sigs  chan os.Signal
}

// wgEnv makes wg-quick fall back to Debian's wireguard-go (the kernel has
// no WireGuard module here; with one, wg-quick would use it instead).
var wgEnv = []string{"WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go", "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1"}

func newLab() (*nsLab, error) {
	dir, err := os.MkdirTemp("", "benchreal")
	if err != nil {
		return nil, err
	}
	l := &nsLab{tag: fmt.Sprintf("%d", os.Getpid()%100000), dir: dir, sigs: make(chan os.Signal, 1)}
	signal.Notify(l.sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		if _, ok := <-l.sigs; ok {
			fmt.Fprintln(os.Stderr, "bench: interrupted, removing namespaces")
			l.cleanup()
			os.Exit(130)
		}
	}()
	return l, nil
}

// cleanup kills what runs in the lab's namespaces and removes them. Safe
// to call twice.
func (l *nsLab) cleanup() {
	l.once.Do(func() {
		signal.Stop(l.sigs)
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, c := range l.procs {
			if c.Process != nil {
				c.Process.Kill()
			}
		}
		for _, ns := range l.nss {
			if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
				for _, pid := range strings.Fields(string(out)) {
					exec.Command("kill", "-9", pid).Run()
				}
			}
		}
		for _, c := range l.procs {
			c.Wait()
		}
		for _, ns := range l.nss {
			exec.Command("ip", "netns", "del", ns).Run()
			os.RemoveAll(filepath.Join("/etc/netns", ns))
		}
		for _, i := range l.ifs {
			os.Remove("/var/run/wireguard/" + i + ".sock")
		}
		os.RemoveAll(l.dir)
		close(l.sigs)
	})
}

// ns creates a namespace with loopback up and returns its name.
func (l *nsLab) ns(name string) (string, error) {
	n := fmt.Sprintf("benchreal-%s-%s", name, l.tag)
	l.mu.Lock()
	l.nss = append(l.nss, n)
	l.mu.Unlock()
	if err := sh("ip", "netns", "add", n); err != nil {
		return "", err
	}
	return n, sh("ip", "-n", n, "link", "set", "lo", "up")
}

// link joins namespaces a and b with a veth pair with the given addresses (CIDR).
func (l *nsLab) link(a, b, aName, bName, aAddr, bAddr string) error {
	aIf, bIf := "v"+aName+l.tag, "v"+bName+l.tag
	if err := sh("ip", "link", "add", aIf, "netns", a, "type", "veth", "peer", "name", bIf, "netns", b); err != nil {
		return err
	}
	for _, x := range [][3]string{{a, aIf, aAddr}, {b, bIf, bAddr}} {
		if err := sh("ip", "-n", x[0], "addr", "add", x[2], "dev", x[1]); err != nil {
			return err
		}
		if err := sh("ip", "-n", x[0], "link", "set", x[1], "up"); err != nil {
			return err
		}
	}
	return nil
}

// start runs a long-lived program inside ns; it is killed in cleanup.
func (l *nsLab) start(ns, logName string, env []string, args ...string) (*exec.Cmd, error) {
	c := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	c.Env = append(os.Environ(), env...)
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if logName != "" {
		f, err := os.Create(filepath.Join(l.dir, logName))
		if err != nil {
			return nil, err
		}
		c.Stdout, c.Stderr = f, f
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.procs = append(l.procs, c)
	l.mu.Unlock()
	return c, nil
}

// wgQuickUp writes a wg-quick profile named name and brings it up in ns.
func (l *nsLab) wgQuickUp(ns, name, conf string) error {
	l.mu.Lock()
	l.ifs = append(l.ifs, name)
	l.mu.Unlock()
	path := filepath.Join(l.dir, name+".conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return err
	}
	c := exec.Command("ip", "netns", "exec", ns, "wg-quick", "up", path)
	c.Env = append(os.Environ(), wgEnv...)
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("wg-quick up %s: %v\n%s", name, err, out)
	}
	return nil
}

// wgIf records a WireGuard interface name created by other means, so that
// its UAPI socket is removed in cleanup.
func (l *nsLab) wgIf(name string) {
	l.mu.Lock()
	l.ifs = append(l.ifs, name)
	l.mu.Unlock()
}

func sh(args ...string) error {
	var b bytes.Buffer
	c := exec.Command(args[0], args[1:]...)
	c.Stdout, c.Stderr = &b, &b
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(b.String()))
	}
	return nil
}

func shEnv(env []string, args ...string) error {
	var b bytes.Buffer
	c := exec.Command(args[0], args[1:]...)
	c.Env = append(os.Environ(), env...)
	c.Stdout, c.Stderr = &b, &b
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(b.String()))
	}
	return nil
}

// inNS runs fn on an OS thread switched into namespace ns: sockets fn
// creates belong to ns for good, whichever thread uses them later.
// Goroutines fn starts do not run in ns.
func inNS(ns string, fn func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := os.Open(filepath.Join("/var/run/netns", ns))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", ns, err)
	}
	defer func() {
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			return // the thread stays locked and dies with this goroutine
		}
		runtime.UnlockOSThread()
	}()
	return fn()
}

// procCtxSwitches sums voluntary and involuntary context switches over
// every thread of pid.
func procCtxSwitches(pid int) int64 {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var n int64
	for _, t := range tasks {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
				var x int64
				fmt.Sscan(strings.TrimSpace(v), &x)
				n += x
			} else if v, ok := strings.CutPrefix(line, "nonvoluntary_ctxt_switches:"); ok {
				var x int64
				fmt.Sscan(strings.TrimSpace(v), &x)
				n += x
			}
		}
	}
	return n
}

func loadAvg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func kernel() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "?"
	}
	return unix.ByteSliceToString(u.Release[:])
}
