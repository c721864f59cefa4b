package buildinfo

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	rev := "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		name                 string
		bi                   *debug.BuildInfo
		ver, commit, arm, mp string
		wantVer, wantCommit  string
		wantTarget           string
	}{
		{name: "no build info", wantVer: "devel", wantTarget: runtime.GOOS + "/" + runtime.GOARCH},
		{name: "linker wins", bi: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: settings("vcs.revision", rev, "GOOS", "linux", "GOARCH", "arm64")},
			ver: "v1.2.0", commit: "abc", wantVer: "v1.2.0", wantCommit: "abc", wantTarget: "linux/arm64"},
		{name: "vcs fallback dirty", bi: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: settings("vcs.revision", rev, "vcs.modified", "true", "GOOS", "linux", "GOARCH", "amd64")},
			wantVer: "(devel)", wantCommit: rev + "+dirty", wantTarget: "linux/amd64"},
		{name: "goarm from settings", bi: &debug.BuildInfo{Settings: settings("GOOS", "linux", "GOARCH", "arm", "GOARM", "7")},
			wantVer: "devel", wantTarget: "linux/arm/v7"},
		{name: "gomips from linker", bi: &debug.BuildInfo{Settings: settings("GOOS", "linux", "GOARCH", "mipsle")}, mp: "softfloat",
			wantVer: "devel", wantTarget: "linux/mipsle/softfloat"},
		{name: "goarm ignored off arm", bi: &debug.BuildInfo{Settings: settings("GOOS", "windows", "GOARCH", "amd64")}, arm: "7",
			wantVer: "devel", wantTarget: "windows/amd64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := get(tc.bi, tc.ver, tc.commit, "", tc.arm, tc.mp)
			if got.Version != tc.wantVer || got.Commit != tc.wantCommit || got.Target() != tc.wantTarget {
				t.Errorf("got version %q commit %q target %q; want %q %q %q",
					got.Version, got.Commit, got.Target(), tc.wantVer, tc.wantCommit, tc.wantTarget)
			}
		})
	}
}

func TestString(t *testing.T) {
	i := Info{Version: "v1.2.0", Commit: "0123456789abcdef+dirty", GoVersion: "go1.26.8",
		GOOS: "linux", GOARCH: "arm", GOARM: "7", Tags: []string{"licgate_omit_acme"}}
	want := "licgate v1.2.0 (0123456789ab+dirty) go1.26.8 linux/arm/v7 tags=licgate_omit_acme"
	if got := i.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	b, err := json.Marshal(Info{Version: "devel", GoVersion: "go1.26.8", GOOS: "linux", GOARCH: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"version":"devel","go_version":"go1.26.8","goos":"linux","goarch":"amd64"}`; string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
}

// TestLinkerFlags links a program with the -X names tools/dist passes and reads
// them back, cross-compiled for arm so GOARM comes through too.
func TestLinkerFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	exe := filepath.Join(t.TempDir(), "printinfo")
	ld := strings.Join([]string{"-X", VersionVar + "=v9.8.7", "-X", CommitVar + "=feedface", "-X", DateVar + "=2026-11-30T00:00:00Z"}, " ")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ld, "-o", exe, "./testdata/printinfo")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(exe).Output()
	if err != nil {
		t.Fatal(err)
	}
	var got Info
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Version != "v9.8.7" || got.Commit != "feedface" || got.Date != "2026-11-30T00:00:00Z" {
		t.Errorf("linked binary reports %+v", got)
	}
	if got.GOOS != runtime.GOOS || got.GOARCH != runtime.GOARCH {
		t.Errorf("target %s, want %s/%s", got.Target(), runtime.GOOS, runtime.GOARCH)
	}
}
