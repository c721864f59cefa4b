package bundle

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/licgate/licgate/licmgr"
	"github.com/licgate/licgate/tunnel"
)

// Golden files: regenerate with LICGATE_UPDATE_GOLDEN=1 go test ./bundle/
func testBundle(t *testing.T) *Bundle {
	priv, _ := tunnel.ParseKey("qHyMYOpLhHmtW7L+GPkqNXkVCXqU+JD5djLF9fNhNmo=")
	gw, _ := tunnel.ParseKey("uIjjXTDyYvTxL0xFmm+5J9pjH2qJDhQZmPc6wfhL0lc=")
	b, err := New("office", tunnel.Profile{
		PrivateKey: priv, Address: netip.MustParsePrefix("10.44.0.23/32"), PeerPublicKey: gw.PublicKey(),
		Endpoint: "office.example.com:51820", AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.44.0.1/32")}, PersistentKeepalive: 25,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHelpersGolden(t *testing.T) {
	b := testBundle(t)
	for name, f := range map[string]func() ([]byte, error){"linux.sh": b.Linux, "macos.sh": b.MacOS, "windows.ps1": b.Windows} {
		got, err := f()
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", name+".golden")
		if os.Getenv("LICGATE_UPDATE_GOLDEN") != "" {
			os.WriteFile(golden, got, 0o644)
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (regenerate with LICGATE_UPDATE_GOLDEN=1)", err)
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from %s (regenerate with LICGATE_UPDATE_GOLDEN=1 after checking the change)", name, golden)
		}
		for _, must := range []string{"10.44.0.1", "office.example.com:51820", b.PeerKey(), "--add-server", "--delete-server"} {
			if !strings.Contains(string(got), must) {
				t.Errorf("%s lacks %q", name, must)
			}
		}
		if strings.Contains(string(got), "0.0.0.0/0") || strings.Contains(string(got), b.Profile.PrivateKey.String()) {
			t.Errorf("%s routes everything or embeds the private key", name)
		}
	}
}

// The sh helpers parse with sh, bash and dash, and pass shellcheck at every
// severity. CI installs all four (.ci/apt.d/bundle.txt); there a missing one
// fails the test, elsewhere it is reported and that check left out.
func TestShellHelpersParse(t *testing.T) {
	skipOnWindows(t)
	checkShellHelpers(t, testBundle(t))
}

// checkShellHelpers writes b's sh helpers and parses each with sh, bash
// and dash and shellcheck.
func checkShellHelpers(t *testing.T, b *Bundle) {
	t.Helper()
	dir := t.TempDir()
	for name, f := range map[string]func() ([]byte, error){"linux.sh": b.Linux, "macos.sh": b.MacOS} {
		data, err := f()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, sh := range []string{"sh", "bash", "dash"} {
			if !haveTool(t, sh) {
				continue
			}
			if out, err := exec.Command(sh, "-n", p).CombinedOutput(); err != nil {
				t.Errorf("%s -n %s: %v\n%s", sh, name, err, out)
			}
		}
		if haveTool(t, "shellcheck") {
			if out, err := exec.Command("shellcheck", "-s", "sh", p).CombinedOutput(); err != nil {
				t.Errorf("shellcheck %s: %v\n%s", name, err, out)
			}
		}
	}
}

// haveTool reports whether name is on PATH. Under CI a missing tool fails
// the test (a check that cannot run is not a pass); elsewhere it is logged.
func haveTool(t *testing.T, name string) bool {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return true
	}
	if os.Getenv("CI") != "" {
		t.Errorf("%s not installed: CI installs it from .ci/apt.d/bundle.txt", name)
	} else {
		t.Logf("%s not installed: that check did not run", name)
	}
	return false
}

// No PowerShell parser ships in Debian: check what can be checked
// without one: balanced delimiters outside strings and comments.
func TestPowerShellBalanced(t *testing.T) {
	data, _ := testBundle(t).Windows()
	var stack []rune
	pairs := map[rune]rune{')': '(', '}': '{', ']': '['}
	for n, line := range strings.Split(string(data), "\n") {
		inS, inD := false, false
		prev := rune(0)
		for _, r := range line {
			switch {
			case r == '#' && !inS && !inD:
				goto next
			case r == '\'' && !inD:
				inS = !inS
			case r == '"' && !inS && prev != '`':
				inD = !inD
			case inS || inD:
			case r == '(' || r == '{' || r == '[':
				stack = append(stack, r)
			case r == ')' || r == '}' || r == ']':
				if len(stack) == 0 || stack[len(stack)-1] != pairs[r] {
					t.Fatalf("line %d: unbalanced %c", n+1, r)
				}
				stack = stack[:len(stack)-1]
			}
			prev = r
		}
		if inS || inD {
			t.Fatalf("line %d: unterminated string", n+1)
		}
	next:
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed %q", string(stack))
	}
}

func TestTunnelNameRules(t *testing.T) {
	b := testBundle(t)
	if _, err := New("this-name-is-too-long", b.Profile); err == nil {
		t.Fatal("16+ character tunnel name accepted")
	}
	if _, err := New("bad name", b.Profile); err == nil {
		t.Fatal("space accepted")
	}
}

// licensesBundle fronts every manager the helpers point at the gateway:
// CodeMeter, FlexNet (lmgrd 27000, vendor daemons adskflex and MLM), RLM
// (rlm 5053, ISV foundry) and Sentinel LDK.
func licensesBundle(t *testing.T) *Bundle {
	t.Helper()
	b := testBundle(t)
	flex, err := licmgr.Expand(licmgr.FlexNet, licmgr.Options{Port: 27000, Daemons: []licmgr.Daemon{{Name: "adskflex", Port: 27100}, {Name: "MLM", Port: 27101}}})
	if err != nil {
		t.Fatal(err)
	}
	rlm, err := licmgr.Expand(licmgr.RLM, licmgr.Options{Daemons: []licmgr.Daemon{{Name: "foundry", Port: 4101}}})
	if err != nil {
		t.Fatal(err)
	}
	ldk, _ := licmgr.Expand(licmgr.SentinelLDK, licmgr.Options{})
	cm, _ := licmgr.Expand(licmgr.CodeMeter, licmgr.Options{})
	b.Licenses = []License{LicenseFor(licmgr.CodeMeter, cm), LicenseFor(licmgr.FlexNet, flex), LicenseFor(licmgr.RLM, rlm), LicenseFor(licmgr.SentinelLDK, ldk)}
	return b
}

func TestEnvVars(t *testing.T) {
	got := licensesBundle(t).EnvPairs()
	want := "ADSKFLEX_LICENSE_FILE=27000@10.44.0.1 LM_LICENSE_FILE=27000@10.44.0.1 MLM_LICENSE_FILE=27000@10.44.0.1 RLM_LICENSE=5053@10.44.0.1 foundry_LICENSE=5053@10.44.0.1"
	if got != want {
		t.Errorf("EnvPairs:\n got %s\nwant %s", got, want)
	}
	// lmgrd's default range: "@host" makes the client try 27000-27009.
	flex, _ := licmgr.Expand(licmgr.FlexNet, licmgr.Options{Daemons: []licmgr.Daemon{{Name: "bad-name", Port: 27100}}})
	b := testBundle(t)
	b.Licenses = []License{LicenseFor(licmgr.FlexNet, flex)}
	if got := b.EnvPairs(); got != "LM_LICENSE_FILE=@10.44.0.1" {
		t.Errorf("range: %s (a daemon name that is no variable name must be left out)", got)
	}
	generic := testBundle(t)
	generic.Licenses = []License{{Kind: licmgr.Generic}}
	if b.CodeMeter() || b.LDK() || !testBundle(t).CodeMeter() || !generic.CodeMeter() {
		t.Error("CodeMeter/LDK flags: a FlexNet-only bundle fronts neither; a bundle without licenses, or with untyped ones only, fronts CodeMeter")
	}
	if ps := b.PSEnv(); ps != " 'LM_LICENSE_FILE' = '@10.44.0.1' " {
		t.Errorf("PSEnv %q", ps)
	}
}

func TestLicenseHelpersGolden(t *testing.T) {
	b := licensesBundle(t)
	for name, f := range map[string]func() ([]byte, error){"linux.sh": b.Linux, "macos.sh": b.MacOS, "windows.ps1": b.Windows} {
		got, err := f()
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", "licenses-"+name+".golden")
		if os.Getenv("LICGATE_UPDATE_GOLDEN") != "" {
			os.WriteFile(golden, got, 0o644)
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (regenerate with LICGATE_UPDATE_GOLDEN=1)", err)
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from %s (regenerate with LICGATE_UPDATE_GOLDEN=1 after checking the change)", name, golden)
		}
		for _, must := range []string{"LM_LICENSE_FILE", "ADSKFLEX_LICENSE_FILE", "RLM_LICENSE", "foundry_LICENSE", "27000@10.44.0.1", "5053@10.44.0.1", "serveraddr", "hasplm.ini", "--add-server"} {
			if !strings.Contains(string(got), must) {
				t.Errorf("%s lacks %q", name, must)
			}
		}
	}
	ps, _ := b.Windows()
	for _, must := range []string{`'Aladdin Shared\HASP'`, "'Machine'", "Restart-Service -Name hasplms", "Remove-LicenseVars", "Remove-LdkServer"} {
		if !strings.Contains(string(ps), must) {
			t.Errorf("windows.ps1 lacks %q", must)
		}
	}
	mac, _ := b.MacOS()
	for _, must := range []string{"launchctl setenv LM_LICENSE_FILE", "/Library/LaunchAgents}/", "/etc/zprofile", "launchctl asuser"} {
		if !strings.Contains(string(mac), must) {
			t.Errorf("macos.sh lacks %q", must)
		}
	}
}

// The license-manager helpers pass the same checks as the CodeMeter ones.
func TestLicenseShellHelpersParse(t *testing.T) {
	skipOnWindows(t)
	checkShellHelpers(t, licensesBundle(t))
}

// The Linux helper, run for real with stand-in commands (id says root,
// wg-quick/wg/cmu log what they are asked) and every path in a temp
// directory: install sets the variables and LDK's serveraddr, a second
// install changes nothing, a login shell sees the gateway in front of
// what the user had, and --uninstall leaves the files as they were.
func TestLinuxHelperRunsLicenses(t *testing.T) {
	skipOnWindows(t)
	if !haveTool(t, "dash") {
		return
	}
	root := t.TempDir()
	bin := filepath.Join(root, "bin")
	log := filepath.Join(root, "calls.log")
	os.MkdirAll(bin, 0o755)
	stub := func(name, body string) {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\necho \""+name+" $*\" >>"+log+"\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stub("id", "echo 0")
	stub("wg-quick", "exit 0")
	stub("wg", "exit 1") // tunnel down
	stub("cmu", `[ "$1" = --list-server ] && cat `+filepath.Join(root, "cmu.list")+` 2>/dev/null; [ "$1" = --add-server ] && echo "$2" >>`+filepath.Join(root, "cmu.list")+`; exit 0`)
	b := licensesBundle(t)
	files, err := b.Files()
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(root, "home")
	os.MkdirAll(home, 0o755)
	for name, data := range files {
		os.WriteFile(filepath.Join(home, name), data, 0o600)
	}
	ini := filepath.Join(root, "etc", "hasplm", "hasplm.ini")
	os.MkdirAll(filepath.Dir(ini), 0o755)
	before := "[SERVER]\nname = home\n\n[REMOTE]\nbroadcastsearch = 1\nserveraddr = 192.0.2.7\n"
	os.WriteFile(ini, []byte(before), 0o644)
	env := []string{
		"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + home, "LICGATE_NO_SYSTEMD=1",
		"LICGATE_WG_DIR=" + filepath.Join(root, "etc", "wireguard"), "LICGATE_LIB_DIR=" + filepath.Join(root, "lib"),
		"LICGATE_PROFILE_D=" + filepath.Join(root, "etc", "profile.d"), "LICGATE_ENV_D=" + filepath.Join(root, "etc", "environment.d"),
		"LICGATE_HASPLM_INI=" + ini,
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("dash", append([]string{filepath.Join(home, "office-linux.sh")}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("office-linux.sh %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	read := func(p string) string { data, _ := os.ReadFile(p); return string(data) }
	profileD := filepath.Join(root, "etc", "profile.d", "licgate-office.sh")
	envD := filepath.Join(root, "etc", "environment.d", "60-licgate-office.conf")

	out := run()
	t.Logf("install:\n%s", out)
	wantIni := "[SERVER]\nname = home\n\n[REMOTE]\nserveraddr = 10.44.0.1\nbroadcastsearch = 1\nserveraddr = 192.0.2.7\n"
	if got := read(ini); got != wantIni {
		t.Errorf("hasplm.ini after install:\n%s\nwant:\n%s", got, wantIni)
	}
	if !strings.Contains(read(envD), "LM_LICENSE_FILE=27000@10.44.0.1${LM_LICENSE_FILE:+:$LM_LICENSE_FILE}") {
		t.Errorf("environment.d file:\n%s", read(envD))
	}
	if !strings.Contains(read(log), "cmu --add-server 10.44.0.1") {
		t.Errorf("cmu not asked to add the gateway:\n%s", read(log))
	}
	first := read(profileD)
	out = run()
	if !strings.Contains(out, "license variables already set") || !strings.Contains(out, "Sentinel LDK already searches 10.44.0.1") {
		t.Errorf("second install did not see its own work:\n%s", out)
	}
	if read(ini) != wantIni || read(profileD) != first {
		t.Errorf("second install changed things:\n%s", read(ini))
	}
	// A login shell, sourcing profile.d twice (nested logins), with the
	// user's own server already set.
	sh := exec.Command("dash", "-c", `. "$1"; . "$1"; echo "$LM_LICENSE_FILE|$ADSKFLEX_LICENSE_FILE|$RLM_LICENSE|$foundry_LICENSE"`, "sh", profileD)
	sh.Env = []string{"PATH=/usr/bin:/bin", "LM_LICENSE_FILE=1717@own-server"}
	got, err := sh.Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "27000@10.44.0.1:1717@own-server|27000@10.44.0.1|5053@10.44.0.1|5053@10.44.0.1\n"; string(got) != want {
		t.Errorf("login shell sees %q, want %q", got, want)
	}

	out = run("--uninstall")
	t.Logf("uninstall:\n%s", out)
	if got := read(ini); got != before {
		t.Errorf("hasplm.ini after uninstall:\n%s\nwant it as before:\n%s", got, before)
	}
	for _, p := range []string{profileD, envD} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
}

// The macOS helper's --licenses-only and --uninstall, run for real with
// stand-ins for id, launchctl and cmu and every path in a temp
// directory: the variables file, the LaunchAgent and one /etc/zprofile
// line (twice run, still one), launchctl setenv at login with the
// gateway's values, LDK's serveraddr; --uninstall leaves zprofile and
// hasplm.ini as they were.
func TestMacOSHelperRunsLicenses(t *testing.T) {
	skipOnWindows(t)
	if !haveTool(t, "dash") {
		return
	}
	root := t.TempDir()
	bin := filepath.Join(root, "bin")
	log := filepath.Join(root, "calls.log")
	os.MkdirAll(bin, 0o755)
	stub := func(name, body string) {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\necho \""+name+" $*\" >>"+log+"\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stub("id", `[ $# -gt 1 ] && echo 501 || echo 0`)
	stub("launchctl", "exit 0")
	stub("cmu", "exit 0")
	files, err := licensesBundle(t).Files()
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(root, "home")
	os.MkdirAll(home, 0o755)
	for name, data := range files {
		os.WriteFile(filepath.Join(home, name), data, 0o600)
	}
	zprofile := filepath.Join(root, "etc", "zprofile")
	ini := filepath.Join(root, "etc", "hasplm", "hasplm.ini")
	agents := filepath.Join(root, "LaunchAgents")
	os.MkdirAll(filepath.Dir(zprofile), 0o755)
	os.MkdirAll(agents, 0o755)
	os.WriteFile(zprofile, []byte("# system zprofile\nexport PATH\n"), 0o644)
	lib := filepath.Join(root, "lib")
	env := []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + home, "SUDO_USER=alice",
		"LICGATE_WG_DIR=" + filepath.Join(root, "wg"), "LICGATE_LIB_DIR=" + lib, "LICGATE_LAUNCH_AGENTS=" + agents,
		"LICGATE_ZPROFILE=" + zprofile, "LICGATE_HASPLM_INI=" + ini}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("dash", append([]string{filepath.Join(home, "office-macos.sh")}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("office-macos.sh %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	read := func(p string) string { data, _ := os.ReadFile(p); return string(data) }
	run("--licenses-only")
	run("--licenses-only")
	envSh := filepath.Join(lib, "office-env.sh")
	if n := strings.Count(read(zprofile), "# licgate office"); n != 1 || !strings.Contains(read(zprofile), ". "+envSh) {
		t.Errorf("zprofile after two runs (%d licgate lines):\n%s", n, read(zprofile))
	}
	agent := read(filepath.Join(agents, "com.licgate.env.office.plist"))
	if !strings.Contains(agent, "<string>"+envSh+"</string>") || !strings.Contains(agent, "<key>LICGATE_LAUNCHCTL</key>") {
		t.Errorf("LaunchAgent:\n%s", agent)
	}
	if !strings.Contains(read(log), "launchctl asuser 501 /usr/bin/env LICGATE_LAUNCHCTL=1 /bin/sh "+envSh) {
		t.Errorf("variables not set for the user now:\n%s", read(log))
	}
	if read(ini) != "[REMOTE]\nserveraddr = 10.44.0.1\n" {
		t.Errorf("hasplm.ini:\n%s", read(ini))
	}
	// What the LaunchAgent runs at login.
	os.Remove(log)
	login := exec.Command("dash", envSh)
	login.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "LICGATE_LAUNCHCTL=1"}
	if out, err := login.CombinedOutput(); err != nil {
		t.Fatalf("env script: %v\n%s", err, out)
	}
	for _, want := range []string{"launchctl setenv LM_LICENSE_FILE 27000@10.44.0.1", "launchctl setenv ADSKFLEX_LICENSE_FILE 27000@10.44.0.1", "launchctl setenv RLM_LICENSE 5053@10.44.0.1", "launchctl setenv foundry_LICENSE 5053@10.44.0.1"} {
		if !strings.Contains(read(log), want) {
			t.Errorf("login: no %q in\n%s", want, read(log))
		}
	}
	run("--uninstall")
	if got := read(zprofile); got != "# system zprofile\nexport PATH\n" {
		t.Errorf("zprofile after uninstall:\n%s", got)
	}
	if _, err := os.Stat(ini); err == nil {
		t.Errorf("hasplm.ini, made by the helper, left behind: %q", read(ini))
	}
	for _, p := range []string{envSh, filepath.Join(agents, "com.licgate.env.office.plist")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
	if !strings.Contains(read(log), "launchctl asuser 501 launchctl unsetenv LM_LICENSE_FILE") {
		t.Errorf("variables not unset:\n%s", read(log))
	}
}

// skipOnWindows: the Wine run checks the Windows side of bundle; the shell
// helpers run on Linux and macOS and are checked (and run) by the Linux run.
func skipOnWindows(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("shell helpers are checked on the Unix run, not under Windows")
	}
}
