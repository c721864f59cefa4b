//go:build !windows

package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"howett.net/plist"
)

// recorder stands in for systemctl, launchctl, sysrc and service: it
// records each call and answers from a table of canned outputs.
type recorder struct {
	calls   []string
	answers map[string]answer
}

type answer struct {
	out string
	err error
}

func (r *recorder) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	call := strings.Join(append([]string{name}, args...), " ")
	r.calls = append(r.calls, call)
	a := r.answers[call]
	return []byte(a.out), a.err
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, nil))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// exitStatus returns a real *exec.ExitError with the given code.
func exitStatus(t *testing.T, code int) error {
	err := exec.Command("sh", "-c", fmt.Sprintf("exit %d", code)).Run()
	if err == nil {
		t.Fatal("sh exit did not fail")
	}
	return err
}

func TestPathsFor(t *testing.T) {
	t.Setenv("ProgramData", `D:\Data\`)
	for _, tc := range []struct{ goos, config, state, socket string }{
		{"linux", "/etc/licgate/licgate.yaml", "/var/lib/licgate", "/var/lib/licgate/licgate.sock"},
		{"openwrt", "/etc/licgate/licgate.yaml", "/etc/licgate/state", "/var/run/licgate.sock"},
		{"darwin", "/Library/Application Support/licgate/licgate.yaml", "/Library/Application Support/licgate", "/Library/Application Support/licgate/licgate.sock"},
		{"freebsd", "/usr/local/etc/licgate/licgate.yaml", "/var/db/licgate", "/var/db/licgate/licgate.sock"},
		{"windows", `D:\Data\licgate\licgate.yaml`, `D:\Data\licgate`, `D:\Data\licgate\licgate.sock`},
	} {
		p := PathsFor(tc.goos)
		if p.Config != tc.config || p.StateDir != tc.state || p.Socket != tc.socket {
			t.Errorf("PathsFor(%q) = %+v, want %s %s %s", tc.goos, p, tc.config, tc.state, tc.socket)
		}
	}
	t.Setenv("ProgramData", "relative")
	if got := PathsFor("windows").StateDir; got != `C:\ProgramData\licgate` {
		t.Errorf("with a relative ProgramData: %s", got)
	}
}

// TestSystemdUnitGolden: deploy/licgate.service is the generator's output.
// LICGATE_UPDATE_GOLDEN=1 rewrites the file.
func TestSystemdUnitGolden(t *testing.T) {
	got := SystemdUnit(Config{Paths: PathsFor("linux")}, "/usr/local/bin/licgate")
	file := filepath.Join("..", "deploy", "licgate.service")
	if os.Getenv("LICGATE_UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("deploy/licgate.service differs from SystemdUnit (LICGATE_UPDATE_GOLDEN=1 rewrites it):\n%s", got)
	}
	pkg := SystemdUnit(Config{User: "licgate", Paths: PathsFor("linux")}, "/usr/bin/licgate")
	for _, want := range []string{"User=licgate\n", "Group=licgate\n", "ExecStart=/usr/bin/licgate serve -c /etc/licgate/licgate.yaml\n"} {
		if !strings.Contains(pkg, want) {
			t.Errorf("package unit lacks %q", want)
		}
	}
	if strings.Contains(pkg, "DynamicUser") {
		t.Error("package unit with a static user still has DynamicUser")
	}
}

func TestSystemdCommandLine(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"/usr/bin/licgate", "serve"}, "/usr/bin/licgate serve"},
		{[]string{"/opt/my apps/licgate", "-c", "/etc/a b.yaml"}, `"/opt/my apps/licgate" -c "/etc/a b.yaml"`},
		{[]string{"x", "50%", "$HOME", `a"b`}, `x 50%% $$HOME "a\"b"`},
	} {
		if got := systemdCommandLine(tc.in); got != tc.want {
			t.Errorf("systemdCommandLine(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestSystemdManager(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	cfg := Config{Executable: "/usr/bin/licgate", Paths: PathsFor("linux"), Log: testLog(t)}
	rec := &recorder{}

	_, err := newSystemd(cfg, fsys{root}, rec.run)
	if !errors.Is(err, ErrNoServiceManager) || !strings.Contains(err.Error(), "systemd is not running") {
		t.Fatalf("without /run/systemd/system: %v, want ErrNoServiceManager", err)
	}
	if err := os.MkdirAll(filepath.Join(root, "run/systemd/system"), 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := newSystemd(cfg, fsys{root}, rec.run)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := m.Status(ctx); err != nil || st != NotInstalled {
		t.Fatalf("before install: %v %v", st, err)
	}
	if err := m.Install(ctx); err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile(filepath.Join(root, "etc/systemd/system/licgate.service"))
	if err != nil {
		t.Fatal(err)
	}
	if string(unit) != SystemdUnit(cfg, "/usr/bin/licgate") {
		t.Errorf("installed unit:\n%s", unit)
	}
	rec.answers = map[string]answer{"systemctl is-active licgate.service": {"failed", exitStatus(t, 3)}}
	if st, err := m.Status(ctx); err != nil || st != Stopped {
		t.Errorf("failed unit: %v %v, want stopped", st, err)
	}
	rec.answers = map[string]answer{"systemctl is-active licgate.service": {"active", nil}}
	if st, err := m.Status(ctx); err != nil || st != Running {
		t.Errorf("active unit: %v %v, want running", st, err)
	}
	rec.answers = map[string]answer{"systemctl stop licgate.service": {"Failed to stop licgate.service: Access denied", exitStatus(t, 1)}}
	if err := m.Stop(ctx); err == nil || !strings.Contains(err.Error(), "Access denied") {
		t.Errorf("Stop error %v does not carry systemctl's output", err)
	}
	rec.answers = nil
	if err := m.Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Uninstall(ctx); err != nil {
		t.Fatalf("second uninstall: %v", err)
	}
	want := []string{
		"systemctl daemon-reload",
		"systemctl enable licgate.service",
		"systemctl restart licgate.service",
		"systemctl is-active licgate.service",
		"systemctl is-active licgate.service",
		"systemctl stop licgate.service",
		"systemctl disable --now licgate.service",
		"systemctl daemon-reload",
	}
	if strings.Join(rec.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(rec.calls, "\n"), strings.Join(want, "\n"))
	}
	if _, err := os.Stat(filepath.Join(root, "etc/systemd/system/licgate.service")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unit file after uninstall: %v", err)
	}
}

// TestLaunchdPlist parses the generated plist back with a real plist parser.
func TestLaunchdPlist(t *testing.T) {
	cfg := Config{Paths: PathsFor("darwin"), Args: []string{"serve", "-c", "/Library/Application Support/licgate/licgate.yaml"}}
	data, err := LaunchdPlist(cfg, "/usr/local/bin/licgate")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Label             string
		ProgramArguments  []string
		RunAtLoad         bool
		KeepAlive         map[string]bool
		ThrottleInterval  int
		WorkingDirectory  string
		StandardErrorPath string
		Umask             int
	}
	format, err := plist.Unmarshal(data, &got)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if format != plist.XMLFormat {
		t.Errorf("format %d, want XML", format)
	}
	want := []string{"/usr/local/bin/licgate", "serve", "-c", "/Library/Application Support/licgate/licgate.yaml"}
	if got.Label != "com.github.licgate.licgate" || strings.Join(got.ProgramArguments, "|") != strings.Join(want, "|") ||
		!got.RunAtLoad || got.KeepAlive["SuccessfulExit"] || len(got.KeepAlive) != 1 || got.ThrottleInterval != 5 ||
		got.WorkingDirectory != "/Library/Application Support/licgate" ||
		got.StandardErrorPath != "/Library/Logs/licgate/licgate.log" || got.Umask != 0o077 {
		t.Errorf("parsed plist %+v\n%s", got, data)
	}
	// XML escaping: a path with & and < must survive.
	data, err = LaunchdPlist(Config{Paths: PathsFor("darwin"), Args: []string{"serve", "-c", "/tmp/a&b<c>.yaml"}}, "/x")
	if err != nil {
		t.Fatal(err)
	}
	var again struct{ ProgramArguments []string }
	if _, err := plist.Unmarshal(data, &again); err != nil || len(again.ProgramArguments) != 4 || again.ProgramArguments[3] != "/tmp/a&b<c>.yaml" {
		t.Errorf("escaped argument: %q %v", again.ProgramArguments, err)
	}
}

func TestLaunchdManager(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	rec := &recorder{answers: map[string]answer{
		"launchctl print system/com.github.licgate.licgate": {"Could not find service", exitStatus(t, 113)},
	}}
	m := &launchd{cfg: Config{Executable: "/usr/local/bin/licgate", Paths: PathsFor("darwin"), Log: testLog(t)}, fs: fsys{root}, run: rec.run}
	if st, err := m.Status(ctx); err != nil || st != NotInstalled {
		t.Fatalf("before install: %v %v", st, err)
	}
	if err := m.Install(ctx); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(root, "Library/Application Support/licgate"))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir: %v %v", fi, err)
	}
	fi, err = os.Stat(filepath.Join(root, "Library/LaunchDaemons/com.github.licgate.licgate.plist"))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("plist: %v %v", fi, err)
	}
	rec.answers = map[string]answer{
		"launchctl print system/com.github.licgate.licgate": {"system/com.github.licgate.licgate = {\n\tactive count = 1\n\tstate = running\n}", nil},
	}
	if st, err := m.Status(ctx); err != nil || st != Running {
		t.Errorf("running: %v %v", st, err)
	}
	if err := m.Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"launchctl print system/com.github.licgate.licgate",
		"launchctl enable system/com.github.licgate.licgate",
		"launchctl bootstrap system /Library/LaunchDaemons/com.github.licgate.licgate.plist",
		"launchctl print system/com.github.licgate.licgate",
		"launchctl print system/com.github.licgate.licgate",
		"launchctl bootout system/com.github.licgate.licgate",
	}
	if strings.Join(rec.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(rec.calls, "\n"), strings.Join(want, "\n"))
	}
}

func TestRCScript(t *testing.T) {
	cfg := Config{Paths: PathsFor("freebsd")}
	s := RCScript(cfg, "/usr/local/bin/licgate")
	for _, want := range []string{
		"# PROVIDE: licgate\n", "rcvar=licgate_enable\n",
		`command_args="-P ${pidfile} -r -S -T ${name} /usr/local/bin/licgate serve -c /usr/local/etc/licgate/licgate.yaml"`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("rc.d script lacks %q:\n%s", want, s)
		}
	}
	// The script must at least parse as sh (FreeBSD's sh is POSIX, as dash).
	f := filepath.Join(t.TempDir(), "licgate")
	if err := os.WriteFile(f, []byte(RCScript(Config{Args: []string{"serve", "-c", "/a b/it's.yaml"}}, "/x")), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sh", "-n", f).CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v %s", err, out)
	}
	if got := shellQuote("/a b/it's.yaml"); got != `'/a b/it'\''s.yaml'` {
		t.Errorf("shellQuote = %s", got)
	}
}

func TestRCDManager(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	rec := &recorder{}
	m := &rcd{cfg: Config{Executable: "/usr/local/bin/licgate", Paths: PathsFor("freebsd"), Log: testLog(t)}, fs: fsys{root}, run: rec.run}
	if err := m.Install(ctx); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(root, "usr/local/etc/rc.d/licgate")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("script: %v %v", fi, err)
	}
	rec.answers = map[string]answer{"service licgate status": {"licgate is not running.", exitStatus(t, 1)}}
	if st, err := m.Status(ctx); err != nil || st != Stopped {
		t.Errorf("stopped: %v %v", st, err)
	}
	if err := m.Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"sysrc licgate_enable=YES",
		"service licgate restart",
		"service licgate status",
		"service licgate status",
		"sysrc -x licgate_enable",
	}
	if strings.Join(rec.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(rec.calls, "\n"), strings.Join(want, "\n"))
	}
}

func TestSecureStateDirUnix(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "state")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := SecureStateDir(dir); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode: %v %v", fi.Mode(), err)
	}
}

// TestSystemdManagerPackagedUnit (issue 22): with the .deb's unit in
// /lib/systemd/system for the same command line, Install enables and
// restarts it and writes none of its own. Before, setup wrote a
// DynamicUser unit to /etc/systemd/system over the package's: systemd
// moved the state to /var/lib/private/licgate, and after `dpkg --purge`
// that directory and the /etc unit were left behind.
func TestSystemdManagerPackagedUnit(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	cfg := Config{Executable: "/usr/bin/licgate", Paths: PathsFor("linux"), Log: testLog(t)}
	for _, d := range []string{"run/systemd/system", "lib/systemd/system"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pkg := SystemdUnit(Config{User: "licgate", Paths: PathsFor("linux")}, "/usr/bin/licgate")
	if err := os.WriteFile(filepath.Join(root, "lib/systemd/system/licgate.service"), []byte(pkg), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	m, err := newSystemd(cfg, fsys{root}, rec.run)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Install(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/systemd/system/licgate.service")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a unit in /etc shadows the package's: %v", err)
	}
	rec.answers = map[string]answer{"systemctl is-active licgate.service": {"active", nil}}
	if st, err := m.Status(ctx); err != nil || st != Running {
		t.Errorf("status with the package's unit: %v %v, want running", st, err)
	}
	want := "systemctl daemon-reload\nsystemctl enable licgate.service\nsystemctl restart licgate.service\nsystemctl is-active licgate.service"
	if got := strings.Join(rec.calls, "\n"); got != want {
		t.Errorf("calls:\n%s\nwant:\n%s", got, want)
	}

	// Another command line (a config elsewhere) is not the package's:
	// that one gets its own unit.
	other := cfg
	other.Args = []string{"serve", "-c", "/srv/licgate.yaml"}
	m2, err := newSystemd(other, fsys{root}, (&recorder{}).run)
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Install(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/systemd/system/licgate.service")); err != nil {
		t.Errorf("no unit for a command line the package's does not run: %v", err)
	}
}
