package licmgr

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// brief renders findings as "line severity fix" rows (fix "-" when none).
func brief(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		fix := f.Fix
		if fix == "" {
			fix = "-"
		}
		out = append(out, fmt.Sprintf("%d %s %s", f.Line, f.Severity, fix))
	}
	return out
}

// Real license files published by vendors and projects (testdata/SOURCES.md
// names each): every unpinned VENDOR/DAEMON/ISV line is found with its
// corrected line, and pinned ones come out as daemons with their ports.
func TestLintPublishedLicenseFiles(t *testing.T) {
	cases := []struct {
		file    string
		mgr     Kind
		server  int
		daemons []Daemon // with their ports; 0 = unpinned
		want    []string
	}{
		{"flexnet-enduser-guide.lic", FlexNet, 1700, []Daemon{{"sampled", 0}}, []string{
			"1 warning -",
			"2 error VENDOR sampled PORT=1701",
		}},
		{"awr-kb.lic", FlexNet, 27007, []Daemon{{"awrd", 27008}}, []string{
			"2 warning -",
		}},
		{"nv5-idl.lic", FlexNet, 1700, []Daemon{{"idl_lmgrd", 0}}, []string{
			"3 error DAEMON idl_lmgrd PORT=1701",
		}},
		{"silab-synopsys.lic", FlexNet, 27020, []Daemon{{"snpslmd", 0}}, []string{
			"1 warning -",
			"2 error VENDOR snpslmd vendor_daemon_path PORT=27021",
			"4 error -", // the sample ends inside a continuation
		}},
		{"dgux-license.dat", FlexNet, 744, []Daemon{{"dguxuserd", 0}}, []string{
			"1 warning -", // privileged port
			"2 error DAEMON dguxuserd /usr/sbin/dguxuserd PORT=27001",
		}},
		{"aws-nice-dcv.lic", RLM, 5053, []Daemon{{"nice", 0}}, []string{
			"2 error ISV nice port=5055",
		}},
		{"gispax-player.lic", RLM, 5053, []Daemon{{"gispax", 8765}}, []string{
			"1 warning -",
		}},
		{"reprise-manual-examples.lic", RLM, 2700, []Daemon{{"reprise", 8765}}, nil},
		{"animbot.lic", RLM, 0, []Daemon{{"animbot", 0}}, []string{
			"1 error ISV animbot port=5055",
		}},
	}
	for _, c := range cases {
		path := filepath.Join("testdata", "licenses", c.file)
		fs, lf, err := LintFile(path, LintOptions{})
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		if lf.Manager != c.mgr || lf.ServerPort() != c.server {
			t.Errorf("%s: manager %s server port %d, want %s %d", c.file, lf.Manager, lf.ServerPort(), c.mgr, c.server)
		}
		var ds []Daemon
		for _, d := range lf.Daemons {
			ds = append(ds, Daemon{d.Name, d.Port})
		}
		if !slices.Equal(ds, c.daemons) {
			t.Errorf("%s: daemons %v, want %v", c.file, ds, c.daemons)
		}
		if got := brief(fs); !slices.Equal(got, c.want) {
			t.Errorf("%s: findings\n%s\nwant\n%s", c.file, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
		for _, f := range fs {
			if f.File != path || !strings.HasPrefix(f.String(), fmt.Sprintf("%s:%d: ", path, f.Line)) {
				t.Errorf("%s: finding not placed at file:line: %s", c.file, f)
			}
		}
	}
}

// Applying every fix gives a file that lints without errors, whose pinned
// daemons expand into a working profile.
func TestLintFixesAreClean(t *testing.T) {
	files, err := filepath.Glob("testdata/licenses/*")
	if err != nil || len(files) < 6 {
		t.Fatalf("samples: %v %v", files, err)
	}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		fs, lf, err := Lint(path, data, LintOptions{Host: "licsrv"})
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
		for _, f := range fs {
			if f.Fix != "" {
				lines[f.Line-1] = f.Fix
			}
		}
		fixed := strings.Join(lines, "\n")
		fs2, lf2, err := Lint(path, []byte(fixed), LintOptions{Host: "licsrv"})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs2 {
			if f.Severity == SevError && !strings.Contains(f.Message, "continuation") {
				t.Errorf("%s after fixes: %s", path, f)
			}
			if strings.Contains(f.Message, "placeholder") {
				t.Errorf("%s: --host did not replace the placeholder: %s", path, f)
			}
		}
		if len(lf2.PinnedDaemons()) != len(lf.Daemons) {
			t.Errorf("%s: %d of %d daemons pinned after fixes", path, len(lf2.PinnedDaemons()), len(lf.Daemons))
		}
		if _, err := Expand(lf2.Manager, Options{Port: lf2.ServerPort(), Daemons: lf2.PinnedDaemons()}); err != nil {
			t.Errorf("%s after fixes: %v", path, err)
		}
	}
}

func TestLintCases(t *testing.T) {
	cases := []struct {
		name, text string
		opt        LintOptions
		want       []string
	}{
		{"server without port", "SERVER lic1 0123abcd\nVENDOR adskflex port=2080\n", LintOptions{},
			[]string{"1 warning SERVER lic1 0123abcd 27000"}},
		{"placeholder with --host", "SERVER this_host ANY 27000\nVENDOR ansyslmd PORT=1055\n", LintOptions{Host: "lic.office.lan"},
			[]string{"1 warning SERVER lic.office.lan ANY 27000"}},
		{"bad server port", "SERVER lic1 0123abcd 99999\nVENDOR x PORT=27001\n", LintOptions{},
			[]string{"1 error SERVER lic1 0123abcd 27000"}},
		{"continued VENDOR line", "SERVER lic1 ANY 27000\nVENDOR MLM \\\n  OPTIONS=/etc/mlm.opt\n", LintOptions{},
			[]string{"2 error VENDOR MLM OPTIONS=/etc/mlm.opt PORT=27001"}},
		{"suggestions collide with nothing", "SERVER lic1 ANY 27000\nVENDOR a PORT=27001\nVENDOR b\nVENDOR c\n", LintOptions{},
			[]string{"3 error VENDOR b PORT=27002", "4 error VENDOR c PORT=27003"}},
		{"pre-v6 DAEMON with positional port", "SERVER lic1 ANY 1700\nDAEMON d /opt/d /opt/d.opt 1701\n", LintOptions{}, nil},
		{"pre-v9 ISV with positional port", "HOST lic1 ANY 5053\nISV foundry /opt/foundry /opt/foundry.opt 4101\n", LintOptions{}, nil},
		{"RLM HOST without port", "HOST lic1 0800deadbeef\nISV foundry port=4101\n", LintOptions{},
			[]string{"1 warning HOST lic1 0800deadbeef 5053"}},
		{"RLM with SERVER/DAEMON aliases and sig=", "SERVER lic1 ANY 5053\nDAEMON foundry\nLICENSE foundry nuke_i 2024.0331 permanent 4 sig=\"x\"\n", LintOptions{},
			[]string{"2 error DAEMON foundry port=5055"}},
		{"forced manager", "SERVER lic1 ANY 5053\nDAEMON foundry\n", LintOptions{Manager: RLM},
			[]string{"2 error DAEMON foundry port=5055"}},
		{"three servers", "SERVER a 1 27000\nSERVER b 2 27000\nSERVER c 3 27000\nVENDOR v PORT=27001\n", LintOptions{},
			[]string{"2 warning -"}},
		{"bad vendor port", "SERVER a 1 27000\nVENDOR v PORT=x\n", LintOptions{}, []string{"2 error -"}},
		{"no vendor line", "SERVER a 1 27000\n# comment\n", LintOptions{}, []string{"1 warning -"}},
	}
	for _, c := range cases {
		fs, _, err := Lint("t.lic", []byte(c.text), c.opt)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := brief(fs); !slices.Equal(got, c.want) {
			t.Errorf("%s: findings\n%s\nwant\n%s", c.name, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
	}
}

func TestLintNotALicense(t *testing.T) {
	_, _, err := Lint("x.txt", []byte("hello\nworld\n"), LintOptions{})
	if !errors.Is(err, ErrNotLicense) {
		t.Errorf("err = %v, want ErrNotLicense", err)
	}
	_, _, err = LintFile(filepath.Join(t.TempDir(), "missing.lic"), LintOptions{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	_, _, err = LintFile(t.TempDir(), LintOptions{})
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
}
