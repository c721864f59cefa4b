package installtest

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The Debian system the office's machine runs. The packages are what the
// test needs besides Debian's base: systemd as init, D-Bus for systemctl,
// adduser for licgate's postinst, sudo because the doc's commands use it,
// procps (pgrep) to see what still runs.
const (
	suite = "bookworm"
)

var basePackages = []string{"systemd", "systemd-sysv", "dbus", "adduser", "iproute2", "ca-certificates", "sudo", "procps"}

// mirror is Debian's mirror (CI reaches it, as it reaches Debian's
// packages for apt); LICGATE_DEBIAN_MIRROR overrides it.
func mirror() string {
	if m := os.Getenv("LICGATE_DEBIAN_MIRROR"); m != "" {
		return m
	}
	return "http://deb.debian.org/debian"
}

// rootFS returns a Debian 12 root file system with basePackages, from the
// cache when a whole one is there, else made with debootstrap (into a
// temporary directory renamed into place when complete, under a lock so
// that two test processes do not both make it).
func rootFS(t *testing.T) string {
	t.Helper()
	cache := os.Getenv("LICGATE_INSTALLTEST_CACHE")
	if cache == "" {
		cache = "/var/cache/licgate-installtest"
	}
	sum := sha256.Sum256([]byte(suite + "\n" + mirror() + "\n" + strings.Join(basePackages, ",")))
	dir := filepath.Join(cache, suite+"-"+hex.EncodeToString(sum[:6]))
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("installtest: rootfs cache: %v", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("installtest: rootfs cache: %v", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatalf("installtest: rootfs cache lock: %v", err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	// "complete" is written last: a root without it is a debootstrap that
	// was cut short, and is made again.
	if _, err := os.Stat(filepath.Join(dir, "complete")); err == nil {
		t.Logf("Debian %s root file system from the cache: %s", suite, root)
		return root
	}
	tmp := filepath.Join(dir, "making")
	os.RemoveAll(tmp)
	os.RemoveAll(root)
	start := time.Now()
	cmd := exec.Command("debootstrap", "--variant=minbase", "--include="+strings.Join(basePackages, ","), suite, tmp, mirror())
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.RemoveAll(tmp)
		t.Fatalf("installtest: debootstrap %s from %s: %v\n%s", suite, mirror(), err, tail(string(out), 30))
	}
	// apt-get clean: the downloaded .debs are not part of the system.
	os.RemoveAll(filepath.Join(tmp, "var", "cache", "apt", "archives"))
	os.MkdirAll(filepath.Join(tmp, "var", "cache", "apt", "archives", "partial"), 0o755)
	if err := os.Rename(tmp, root); err != nil {
		t.Fatalf("installtest: rootfs cache: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "complete"), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		t.Fatalf("installtest: rootfs cache: %v", err)
	}
	t.Logf("Debian %s root file system made with debootstrap in %s: %s", suite, time.Since(start).Round(time.Second), root)
	return root
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func mustWrite(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Remove(path) // a symlink (resolv.conf) is replaced, not followed
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatalf("installtest: %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, to, string(b), 0o644)
}

// TestDebianRootFS makes (or finds) the cached Debian root file system and
// checks that it has what the machine needs. .ci/setup.d/70-installtest.sh
// runs it before the test suite, so that debootstrap's minutes on a new
// machine do not count against `go test`'s time limit.
func TestDebianRootFS(t *testing.T) {
	requireTools(t)
	root := rootFS(t)
	for _, p := range []string{"lib/systemd/systemd", "usr/bin/systemctl", "usr/sbin/adduser", "usr/bin/sudo", "usr/bin/pgrep", "usr/bin/nsenter", "usr/sbin/update-ca-certificates", "usr/bin/dpkg", "usr/bin/apt"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("the Debian root file system lacks /%s: %v", p, err)
		}
	}
}
