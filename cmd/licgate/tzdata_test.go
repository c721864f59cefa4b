//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestTimeZonesBuiltIn: the shipped example (timezone: Europe/Berlin)
// passes `policy check` and `serve --check` on a machine without any
// time-zone database: OpenWrt, distroless, minimal containers, Windows.
// As root the CLI runs in a mount namespace where every place Go looks
// (ZONEINFO, /usr/share/zoneinfo and the others, GOROOT's zoneinfo.zip)
// is empty, so only data built into the binary can answer.
func TestTimeZonesBuiltIn(t *testing.T) {
	if os.Getenv("LICGATE_TZ_CHILD") != "" {
		example := "../../deploy/licgate.example.yaml"
		if code := run([]string{"policy", "check", example}, os.Stdout, os.Stderr); code != 0 {
			os.Exit(code)
		}
		os.Exit(run([]string{"serve", "--check", "-c", example}, os.Stdout, os.Stderr))
	}
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs this as root (mount namespace)")
		}
		t.Skip("needs root: a mount namespace hides the time-zone data")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatal("unshare (util-linux) not found")
	}
	empty := t.TempDir()
	script := "set -e\n"
	for _, d := range []string{"/usr/share/zoneinfo", "/usr/share/lib/zoneinfo", "/usr/lib/locale/TZ", "/etc/zoneinfo",
		filepath.Join(runtime.GOROOT(), "lib", "time")} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			script += "mount --bind " + empty + " " + d + "\n"
		}
	}
	script += "test ! -e /usr/share/zoneinfo/Europe/Berlin\nexec \"$0\" -test.run='^TestTimeZonesBuiltIn$'\n"
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c", script, os.Args[0])
	cmd.Env = append(os.Environ(), "LICGATE_TZ_CHILD=1", "ZONEINFO="+empty, "TZ=UTC")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "4 policy tests passed") {
		t.Fatalf("policy check and serve --check of the example with no time-zone data on the machine: %v\n%s", err, out)
	}
}
