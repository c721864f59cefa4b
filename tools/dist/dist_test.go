package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licgate/licgate/internal/testnet"
)

func TestParseTargets(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "linux/amd64", want: "linux/amd64"},
		{in: "linux/arm", want: "linux/arm/v7"},
		{in: "linux/arm/v6, linux/mipsle", want: "linux/arm/v6,linux/mipsle/softfloat"},
		{in: "linux/mips/hardfloat", want: "linux/mips/hardfloat"},
		{in: "linux/mips64le", want: "linux/mips64le"},
		{in: "windows/amd64/v3", err: "has no variants"},
		{in: "linux", err: "want os/arch"},
		{in: ",", err: "no targets"},
	} {
		ts, err := ParseTargets(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseTargets(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || targetList(ts) != tc.want {
			t.Errorf("ParseTargets(%q) = %s, %v; want %s", tc.in, targetList(ts), err, tc.want)
		}
	}
	// Every release target round-trips through its own spelling.
	ts, err := ParseTargets(targetList(AllTargets))
	if err != nil || targetList(ts) != targetList(AllTargets) {
		t.Errorf("round trip: %s %v", targetList(ts), err)
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		t          Target
		suffix     string
		bin, nfpm  string
		pkgs       string
		routerPkgs string
	}{
		{Target{GOOS: "linux", GOARCH: "amd64"}, "", "licgate-linux-amd64", "amd64", "deb rpm ipk", "ipk"},
		{Target{GOOS: "linux", GOARCH: "arm", GOARM: "7"}, "", "licgate-linux-armv7", "arm7", "deb rpm ipk", "ipk"},
		{Target{GOOS: "linux", GOARCH: "mipsle", GOMIPS: "softfloat"}, "-router", "licgate-linux-mipsle-router", "mipsle", "ipk", "ipk"},
		{Target{GOOS: "windows", GOARCH: "arm64"}, "", "licgate-windows-arm64.exe", "arm64", "", ""},
		{Target{GOOS: "darwin", GOARCH: "arm64"}, "", "licgate-darwin-arm64", "arm64", "", ""},
	} {
		if got := tc.t.BinaryName(tc.suffix); got != tc.bin {
			t.Errorf("%s: binary %s, want %s", tc.t, got, tc.bin)
		}
		if got := tc.t.nfpmArch(); got != tc.nfpm {
			t.Errorf("%s: nfpm arch %s, want %s", tc.t, got, tc.nfpm)
		}
		if got := strings.Join(packagesFor(tc.t, false), " "); got != tc.pkgs {
			t.Errorf("%s: packages %q, want %q", tc.t, got, tc.pkgs)
		}
		if got := strings.Join(packagesFor(tc.t, true), " "); got != tc.routerPkgs {
			t.Errorf("%s: router packages %q, want %q", tc.t, got, tc.routerPkgs)
		}
	}
}

// TestScriptsParse checks every maintainer script with sh -n (dash, as
// Debian's /bin/sh; busybox ash on OpenWrt accepts the same syntax).
func TestScriptsParse(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"debPostinst": debPostinst, "debPrerm": debPrerm, "debPostrm": debPostrm,
		"rpmPre": rpmPre, "rpmPost": rpmPost, "rpmPreun": rpmPreun, "rpmPostun": rpmPostun,
		"ipkPostinst": ipkPostinst, "ipkPrerm": ipkPrerm,
	} {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("sh", "-n", f).CombinedOutput(); err != nil {
			t.Errorf("%s: %v %s", name, err, out)
		}
	}
}

// TestOpenWrtInit runs deploy/openwrt/licgate.init's start_service and
// reload_service against stand-ins for procd's shell functions (the real
// ones come from /etc/rc.common and /lib/functions/procd.sh on the router).
func TestOpenWrtInit(t *testing.T) {
	fake := `
procd_open_instance() { echo "open"; }
procd_set_param() { echo "param $*"; }
procd_close_instance() { echo "close"; }
procd_send_signal() { echo "signal $*"; }
mkdir() { echo "mkdir $*"; }
chmod() { echo "chmod $*"; }
`
	script := fake + ". ../../deploy/openwrt/licgate.init\nstart_service\nreload_service\n"
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := `mkdir -p /etc/licgate/state
chmod 0700 /etc/licgate/state
open
param command /usr/bin/licgate serve -c /etc/licgate/licgate.yaml
param respawn 3600 5 5
param stdout 1
param stderr 1
close
signal licgate * HUP
`
	if string(out) != want {
		t.Errorf("init script calls:\n%s\nwant:\n%s", out, want)
	}
}

// buildPackages runs dist for linux/amd64 once per test binary.
func buildPackages(t *testing.T) (string, Result) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds licgate")
	}
	out := t.TempDir()
	rs, err := Run(Options{Root: "../..", Out: out, Version: "v1.2.3", Commit: "0123456789abcdef",
		Targets: []Target{{GOOS: "linux", GOARCH: "amd64"}}, Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", Table(rs))
	if rs[0].Err != nil {
		t.Fatal(rs[0].Err)
	}
	return out, rs[0]
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestPackages(t *testing.T) {
	out, r := buildPackages(t)
	want := []string{"licgate_1.2.3_amd64.deb", "licgate-1.2.3-1.x86_64.rpm", "licgate_1.2.3_amd64.ipk"}
	if strings.Join(r.Packages, " ") != strings.Join(want, " ") {
		t.Fatalf("packages %q, want %q", r.Packages, want)
	}
	sums, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(want, "licgate-linux-amd64", "INSTALL-windows.txt") {
		if !strings.Contains(string(sums), "  "+f+"\n") {
			t.Errorf("SHA256SUMS lacks %s", f)
		}
	}
	cmd := exec.Command("sha256sum", "-c", "SHA256SUMS")
	cmd.Dir = out
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c: %v\n%s", err, b)
	}

	t.Run("deb", func(t *testing.T) {
		deb := filepath.Join(out, want[0])
		info := mustRun(t, "dpkg-deb", "-I", deb)
		for _, s := range []string{"Package: licgate", "Version: 1.2.3", "Architecture: amd64", "Depends: adduser", "postinst", "prerm", "postrm"} {
			if !strings.Contains(info, s) {
				t.Errorf("dpkg-deb -I lacks %q:\n%s", s, info)
			}
		}
		list := mustRun(t, "dpkg-deb", "-c", deb)
		for _, s := range []string{"-rwxr-xr-x root/root", "./usr/bin/licgate", "./lib/systemd/system/licgate.service", "-rw-r----- root/root", "./etc/licgate/licgate.yaml"} {
			if !strings.Contains(list, s) {
				t.Errorf("dpkg-deb -c lacks %q:\n%s", s, list)
			}
		}
		if c := mustRun(t, "dpkg-deb", "-f", deb, "Package"); strings.TrimSpace(c) != "licgate" {
			t.Errorf("Package field %q", c)
		}
		dir := t.TempDir()
		mustRun(t, "dpkg-deb", "-e", deb, dir)
		if b, _ := os.ReadFile(filepath.Join(dir, "conffiles")); strings.TrimSpace(string(b)) != "/etc/licgate/licgate.yaml" {
			t.Errorf("conffiles %q", b)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "postinst")); !strings.Contains(string(b), "adduser --system --group") {
			t.Errorf("postinst does not create the licgate user:\n%s", b)
		}
	})
	t.Run("rpm", func(t *testing.T) {
		if _, err := exec.LookPath("rpm"); err != nil {
			testnet.Missing(t, "rpm not installed (apt-get install rpm)")
		}
		rpm := filepath.Join(out, want[1])
		q := mustRun(t, "rpm", "-qp", "--qf", "%{NAME} %{VERSION} %{ARCH}\n", rpm)
		if strings.TrimSpace(q) != "licgate 1.2.3 x86_64" {
			t.Errorf("rpm query %q", q)
		}
		if c := mustRun(t, "rpm", "-qp", "--configfiles", rpm); strings.TrimSpace(c) != "/etc/licgate/licgate.yaml" {
			t.Errorf("config files %q", c)
		}
		l := mustRun(t, "rpm", "-qpl", rpm)
		for _, s := range []string{"/usr/bin/licgate", "/usr/lib/systemd/system/licgate.service"} {
			if !strings.Contains(l, s) {
				t.Errorf("rpm lacks %s:\n%s", s, l)
			}
		}
		if s := mustRun(t, "rpm", "-qp", "--scripts", rpm); !strings.Contains(s, "useradd -r") {
			t.Errorf("rpm %%post does not create the user:\n%s", s)
		}
	})
	t.Run("ipk", func(t *testing.T) {
		outer := readTarGz(t, filepath.Join(out, want[2]))
		control := readTarGz(t, "", outer["./control.tar.gz"], outer["control.tar.gz"])
		data := readTarGz(t, "", outer["./data.tar.gz"], outer["data.tar.gz"])
		if !strings.Contains(string(control["./control"]), "Architecture: all") ||
			strings.TrimSpace(string(control["./conffiles"])) != "/etc/licgate/licgate.yaml" {
			t.Errorf("control %q conffiles %q", control["./control"], control["./conffiles"])
		}
		init, err := os.ReadFile("../../deploy/openwrt/licgate.init")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data["./etc/init.d/licgate"], init) {
			t.Error("ipk's /etc/init.d/licgate is not deploy/openwrt/licgate.init")
		}
		if !strings.Contains(string(data["./etc/licgate/licgate.yaml"]), "state_dir: /etc/licgate/state") {
			t.Error("ipk config does not keep its state on flash")
		}
		if _, ok := data["./usr/bin/licgate"]; !ok {
			t.Error("ipk lacks /usr/bin/licgate")
		}
	})
}

// readTarGz returns a gzip'd tar's files by name, from path or from the
// first non-nil data.
func readTarGz(t *testing.T, path string, data ...[]byte) map[string][]byte {
	t.Helper()
	var b []byte
	if path != "" {
		var err error
		if b, err = os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range data {
		if b == nil && d != nil {
			b = d
		}
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		c, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = c
	}
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
