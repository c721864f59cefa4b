package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/licgate/licgate/internal/testnet"
)

// TestDebInstall installs the .deb into this machine with dpkg -i, checks
// what the package set up and that the installed binary runs, and purges it
// again. It changes the system (a package, a user, /etc/licgate), so it runs
// only in CI (CI=true, as root) or with LICGATE_TEST_DPKG=1.
//
// It needs `licgate version` and `licgate serve --check`, which cmd/licgate
// provides.
func TestDebInstall(t *testing.T) {
	if os.Getenv("CI") != "true" && os.Getenv("LICGATE_TEST_DPKG") != "1" {
		t.Skip("installs a package into this machine: CI=true or LICGATE_TEST_DPKG=1")
	}
	if os.Geteuid() != 0 {
		testnet.Missing(t, "dpkg -i needs root")
	}
	for _, tool := range []string{"dpkg", "adduser"} {
		if _, err := exec.LookPath(tool); err != nil {
			testnet.Missing(t, "%s not installed", tool)
		}
	}
	if out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", "licgate").Output(); err == nil && strings.Contains(string(out), "installed") {
		t.Fatalf("a licgate package is already installed (%s): not touching it", out)
	}
	userExisted := exec.Command("getent", "passwd", "licgate").Run() == nil

	out, r := buildPackages(t)
	deb := filepath.Join(out, r.Packages[0])
	t.Cleanup(func() {
		if b, err := exec.Command("dpkg", "--purge", "licgate").CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge: %v\n%s", err, b)
		}
		if !userExisted {
			// Debian's postrm keeps the system user; the test removes its own.
			exec.Command("deluser", "--system", "licgate").Run()
			exec.Command("delgroup", "--system", "licgate").Run()
		}
	})
	t.Log(mustRun(t, "dpkg", "-i", deb))

	// What postinst set up.
	if _, err := exec.Command("getent", "passwd", "licgate").Output(); err != nil {
		t.Errorf("no licgate user after install: %v", err)
	}
	checkOwner(t, "/var/lib/licgate", "licgate", "licgate", 0o700|os.ModeDir)
	checkOwner(t, "/etc/licgate/licgate.yaml", "root", "licgate", 0o640)
	if c := mustRun(t, "dpkg-query", "-W", "-f=${Conffiles}", "licgate"); !strings.Contains(c, "/etc/licgate/licgate.yaml") {
		t.Errorf("conffiles: %q", c)
	}

	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		// --man=no: no man pages in CI; the unit's Documentation= is a URL anyway.
		if b, err := exec.Command(sa, "verify", "--man=no", "/lib/systemd/system/licgate.service").CombinedOutput(); err != nil {
			t.Errorf("systemd-analyze verify: %v\n%s", err, b)
		} else {
			t.Logf("systemd-analyze verify: ok %s", b)
		}
	} else if os.Getenv("CI") != "" {
		// A unit that is never verified is not a pass.
		t.Error("systemd-analyze not installed: the unit is not verified (CI installs systemd from .ci/apt.d/packaging.txt)")
	} else {
		t.Log("systemd-analyze not installed: unit not verified")
	}

	// The installed binary.
	if b, err := exec.Command("/usr/bin/licgate", "version").CombinedOutput(); err != nil {
		t.Errorf("licgate version: %v\n%s", err, b)
	} else if !strings.HasPrefix(string(b), "licgate v1.2.3 (0123456789ab)") {
		t.Errorf("licgate version printed %q", b)
	}
	if b, err := exec.Command("/usr/bin/licgate", "serve", "--check", "-c", "/etc/licgate/licgate.yaml").CombinedOutput(); err != nil {
		t.Errorf("licgate serve --check: %v\n%s", err, b)
	}

	// Purge removes state and config (the cleanup purges again, harmlessly).
	mustRun(t, "dpkg", "--purge", "licgate")
	for _, p := range []string{"/var/lib/licgate", "/etc/licgate/licgate.yaml", "/usr/bin/licgate", "/lib/systemd/system/licgate.service"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s after purge: %v", p, err)
		}
	}
}

func checkOwner(t *testing.T, path, user, group string, mode os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Error(err)
		return
	}
	if fi.Mode() != mode {
		t.Errorf("%s mode %v, want %v", path, fi.Mode(), mode)
	}
	st := fi.Sys().(*syscall.Stat_t)
	u := strings.TrimSpace(mustRun(t, "id", "-nu", itoa(st.Uid)))
	g := strings.TrimSpace(mustRun(t, "getent", "group", itoa(st.Gid)))
	if u != user || !strings.HasPrefix(g, group+":") {
		t.Errorf("%s owned by %s:%s, want %s:%s", path, u, g, user, group)
	}
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
