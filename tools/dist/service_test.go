package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licgate/licgate/internal/testnet"
)

// stubPackages builds the linux/amd64 .deb and .rpm around a stand-in
// binary: what they install and run, without compiling licgate.
func stubPackages(t *testing.T) (deb, rpm string) {
	t.Helper()
	out := t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "licgate-linux-amd64"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	names, err := packageTarget(Options{Root: "../..", Out: out, Version: "v1.2.3", Packages: []string{"deb", "rpm"}},
		Target{GOOS: "linux", GOARCH: "amd64"}, "licgate-linux-amd64", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 {
		t.Fatalf("packages %q", names)
	}
	return filepath.Join(out, names[0]), filepath.Join(out, names[1])
}

// TestPackagedUnit (issue 22, finding 2): the unit the .deb and .rpm
// install runs as the package's user and may bind the public listener
// below 1024 (:443), with that capability and no other. Before the fix
// the capability lines were commented out and the listener failed with
// "bind: permission denied".
func TestPackagedUnit(t *testing.T) {
	for _, tool := range []string{"dpkg-deb", "rpm2cpio", "cpio"} {
		if _, err := exec.LookPath(tool); err != nil {
			testnet.Missing(t, "%s not installed (.ci/apt.d/packaging.txt)", tool)
		}
	}
	deb, rpm := stubPackages(t)
	debRoot := t.TempDir()
	mustRun(t, "dpkg-deb", "-x", deb, debRoot)
	rpmRoot := t.TempDir()
	cmd := exec.Command("sh", "-c", "rpm2cpio \"$1\" | cpio -idm --quiet --no-absolute-filenames", "sh", rpm)
	cmd.Dir = rpmRoot
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rpm2cpio: %v\n%s", err, b)
	}
	for _, unit := range []string{filepath.Join(debRoot, "lib/systemd/system/licgate.service"), filepath.Join(rpmRoot, "usr/lib/systemd/system/licgate.service")} {
		b, err := os.ReadFile(unit)
		if err != nil {
			t.Fatal(err)
		}
		keys := unitKeys(string(b))
		for k, want := range map[string]string{
			"User": "licgate", "Group": "licgate", "ExecStart": "/usr/bin/licgate serve -c /etc/licgate/licgate.yaml",
			"AmbientCapabilities": "CAP_NET_BIND_SERVICE", "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE", "NoNewPrivileges": "yes",
		} {
			if got := keys[k]; got != want {
				t.Errorf("%s: %s=%q, want %q", unit, k, got, want)
			}
		}
		if _, ok := keys["DynamicUser"]; ok {
			t.Errorf("%s: DynamicUser with the package's static user", unit)
		}
		if sa, err := exec.LookPath("systemd-analyze"); err == nil {
			if b, err := exec.Command(sa, "verify", "--man=no", unit).CombinedOutput(); err != nil && !strings.Contains(string(b), "/usr/bin/licgate") {
				// The stand-in binary is not at /usr/bin/licgate on this
				// machine; anything else is a broken unit.
				t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, b)
			}
		}
	}
}

// unitKeys returns the unit's active (uncommented) Key=value settings.
func unitKeys(unit string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(unit, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// TestPackagedConfigAccess (issue 22, finding 1, the package's side): the
// service's user reads /etc/licgate/licgate.yaml through its group, and no
// one else does. The .deb's postinst runs here with stand-ins for the
// commands it calls (the real install is internal/installtest's); the
// .rpm's scriptlets are read with rpm -qp --scripts and its file modes
// with --queryformat. Before the fix /etc/licgate was root:root 0755 and
// the .rpm made its user in %post, after its files had landed.
func TestPackagedConfigAccess(t *testing.T) {
	for _, tool := range []string{"dpkg-deb", "rpm"} {
		if _, err := exec.LookPath(tool); err != nil {
			testnet.Missing(t, "%s not installed (.ci/apt.d/packaging.txt)", tool)
		}
	}
	deb, rpm := stubPackages(t)

	t.Run("deb", func(t *testing.T) {
		if l := mustRun(t, "dpkg-deb", "-c", deb); !strings.Contains(l, "drwxr-x--- root/root") || !strings.Contains(l, " ./etc/licgate/\n") {
			t.Errorf("the package's /etc/licgate is not 0750:\n%s", l)
		}
		ctl := t.TempDir()
		mustRun(t, "dpkg-deb", "-e", deb, ctl)
		stubs := t.TempDir()
		calls := filepath.Join(stubs, "calls")
		for _, c := range []string{"getent", "adduser", "chown", "chmod", "install", "systemctl"} {
			body := "#!/bin/sh\necho \"" + c + " $*\" >> " + calls + "\n"
			if c == "getent" {
				body += "exit 2\n" // no licgate user yet
			}
			if err := os.WriteFile(filepath.Join(stubs, c), []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command("sh", filepath.Join(ctl, "postinst"), "configure", "")
		cmd.Env = append(os.Environ(), "PATH="+stubs+":/usr/bin:/bin")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("postinst configure: %v\n%s", err, b)
		}
		b, _ := os.ReadFile(calls)
		got := string(b)
		for _, want := range []string{
			"adduser --system --group --home /var/lib/licgate",
			"chown licgate:licgate /var/lib/licgate\n",
			"chown root:licgate /etc/licgate /etc/licgate/licgate.yaml\n",
			"chmod 0750 /etc/licgate\n",
			"chmod 0640 /etc/licgate/licgate.yaml\n",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("postinst configure did not run %q; it ran:\n%s", strings.TrimSpace(want), got)
			}
		}
	})
	t.Run("rpm", func(t *testing.T) {
		s := mustRun(t, "rpm", "-qp", "--scripts", rpm)
		pre, post, ok := strings.Cut(s, "postinstall scriptlet")
		if !ok || !strings.Contains(pre, "preinstall scriptlet") || !strings.Contains(pre, "useradd -r -g licgate") || !strings.Contains(pre, "groupadd -r licgate") {
			t.Errorf("%%pre does not make the licgate user and group:\n%s", s)
		}
		for _, want := range []string{"chown root:licgate /etc/licgate /etc/licgate/licgate.yaml", "chmod 0750 /etc/licgate", "chmod 0640 /etc/licgate/licgate.yaml", "install -d -o licgate -g licgate -m 0700 /var/lib/licgate"} {
			if !strings.Contains(post, want) {
				t.Errorf("%%post lacks %q:\n%s", want, s)
			}
		}
		files := mustRun(t, "rpm", "-qp", "--qf", "[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]", rpm)
		for _, want := range []string{"drwxr-x--- root:licgate /etc/licgate\n", "-rw-r----- root:licgate /etc/licgate/licgate.yaml\n",
			"-rwxr-xr-x root:root /usr/bin/licgate\n", "-rw-r--r-- root:root /usr/lib/systemd/system/licgate.service\n"} {
			if !strings.Contains(files, want) {
				t.Errorf("rpm files lack %q:\n%s", strings.TrimSpace(want), files)
			}
		}
	})
}
