package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/licgate/licgate/cmd/licgate/internal/clikit"
)

// The docs' command blocks, run as far as they can run here.
//
// TestDocsCommandBlocks reads every ```sh (or ```bash, ```shell) block of
// README.md, docs/*.md and docs/ddns/*.md, finds each invocation of
// `licgate ...` in it (at the start of a command: after sudo, an
// environment assignment, ;, &&, ||, |, ( or $( ; also ./licgate and
// /usr/local/bin/licgate), and
// handles it by what it needs:
//
//   - Runs here, through run() and must exit 0: `licgate --help`,
//     `licgate help X`, any `licgate X ... --help`/`-h`, `licgate version`,
//     `licgate policy check FILE` and `licgate serve --check -c FILE` when
//     FILE is a path of the repository (deploy/licgate.example.yaml).
//   - Parsed only: everything else. Every command that talks to the daemon
//     (user, device, sessions, policy show/reload/explain, report, denials,
//     ddns, ...) needs a running licgate and its socket; `serve` without
//     --check needs root (a WireGuard port, /var/lib/licgate); `service
//     ...` needs root and a service manager; `demo` and `licsim` start
//     servers (TestDemoOnce covers the demo); `policy check` or `serve
//     --check` of a file outside the repository (/etc/licgate/...) has
//     nothing to read here. For these the command words must name a
//     command of the table, the flags must parse with that command's flag
//     set, the number of arguments must match, and `licgate X --help` must
//     exit 0 with X's usage.
//
// A placeholder in a command block (`<you>`, `[--all]`, `...`) fails the
// test: a block holds commands that can be typed as they stand (prose may
// use placeholders). Not looked at: blocks in other languages (PowerShell,
// bat, unlabelled), and commands other than licgate (systemctl, wg-quick,
// the home-user helpers). Output redirection and pipes after the command
// are cut off; comments (` # ...`) are removed.
func TestDocsCommandBlocks(t *testing.T) {
	invocations := 0
	for _, f := range docFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range shBlocks(string(data)) {
			for _, inv := range licgateInvocations(b.text) {
				invocations++
				where := f + ":" + strconv.Itoa(b.line+inv.line)
				checkInvocation(t, where, inv.args)
			}
		}
	}
	if invocations < 30 {
		t.Fatalf("found only %d licgate invocations in the docs' sh blocks", invocations)
	}
}

// repoRoot is the repository, seen from cmd/licgate.
const repoRoot = "../.."

func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{filepath.Join(repoRoot, "README.md")}
	for _, g := range []string{"docs/*.md", "docs/ddns/*.md"} {
		m, err := filepath.Glob(filepath.Join(repoRoot, g))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("found %d doc files", len(files))
	}
	return files
}

type block struct {
	lang, text string
	line       int // of the opening fence (1-based)
	fragment   bool
	// pending: marked `<!-- not-yet-in-config ... -->`: a documented
	// licgate.yaml section that config does not read yet.
	pending bool
}

var fenceRE = regexp.MustCompile("(?m)^```([a-z]*)\n((?s:.*?))^```")

// blocks returns the fenced blocks of a markdown text. A block preceded
// (on the line before its fence) by a comment starting `<!-- fragment` is
// marked fragment, one starting `<!-- not-yet-in-config` pending.
func blocks(md string) []block {
	var out []block
	for _, m := range fenceRE.FindAllStringSubmatchIndex(md, -1) {
		b := block{lang: md[m[2]:m[3]], text: md[m[4]:m[5]], line: strings.Count(md[:m[0]], "\n") + 1}
		before := strings.TrimRight(md[:m[0]], "\n")
		if i := strings.LastIndex(before, "\n"); i >= 0 {
			before = before[i+1:]
		}
		b.fragment = strings.HasPrefix(strings.TrimSpace(before), "<!-- fragment")
		b.pending = strings.HasPrefix(strings.TrimSpace(before), "<!-- not-yet-in-config")
		out = append(out, b)
	}
	return out
}

func shBlocks(md string) []block {
	var out []block
	for _, b := range blocks(md) {
		switch b.lang {
		case "sh", "bash", "shell":
			out = append(out, b)
		}
	}
	return out
}

type invocation struct {
	line int // within the block, 1-based
	args []string
}

// licgateInvocations finds the licgate commands in a shell block.
func licgateInvocations(text string) []invocation {
	var out []invocation
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		start := i
		line := stripComment(lines[i])
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, "\\") + " " + stripComment(lines[i])
		}
		words := strings.Fields(line)
		for j := 0; j < len(words); j++ {
			if !isLicgate(words[j]) || !commandPosition(words[:j]) {
				continue
			}
			var args []string
			for _, w := range words[j+1:] {
				if isShellOperator(w) {
					break
				}
				args = append(args, unquote(w))
			}
			out = append(out, invocation{line: start + 1, args: args})
		}
	}
	return out
}

// isLicgate: w runs the licgate binary (licgate, ./licgate,
// /usr/local/bin/licgate), not an init script (/etc/init.d/licgate).
func isLicgate(w string) bool {
	return w == "licgate" || w == "./licgate" || strings.HasSuffix(w, "bin/licgate")
}

// stripComment removes a shell comment: a # at the start of a word.
func stripComment(l string) string {
	if strings.HasPrefix(strings.TrimSpace(l), "#") {
		return ""
	}
	if i := strings.Index(l, " #"); i >= 0 {
		l = l[:i]
	}
	return strings.TrimRight(l, " \t")
}

var envAssign = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// commandPosition: the word after before starts a command.
func commandPosition(before []string) bool {
	if len(before) == 0 {
		return true
	}
	last := before[len(before)-1]
	switch {
	case last == "sudo" || last == "exec" || last == "time" || envAssign.MatchString(last):
		return commandPosition(before[:len(before)-1])
	case isShellOperator(last) || last == "(" || last == "$(":
		return true
	case strings.HasSuffix(last, ";") || strings.HasSuffix(last, "$("):
		return true
	}
	return false
}

func isShellOperator(w string) bool {
	switch w {
	case "|", "||", "&&", ";", "&", ")":
		return true
	}
	return strings.HasPrefix(w, ">") || strings.HasPrefix(w, "<") || strings.HasPrefix(w, "2>") || strings.HasPrefix(w, "1>")
}

func unquote(w string) string {
	if len(w) >= 2 && (w[0] == '"' || w[0] == '\'') && w[len(w)-1] == w[0] {
		return w[1 : len(w)-1]
	}
	return w
}

// checkInvocation runs or parses one documented command line.
func checkInvocation(t *testing.T, where string, args []string) {
	t.Helper()
	show := "licgate " + strings.Join(args, " ")
	for _, a := range args {
		if strings.ContainsAny(a, "<>[]") || a == "..." {
			t.Errorf("%s: %q has a placeholder or an optional [...] that cannot be typed as is", where, show)
			return
		}
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "version" || args[0] == "--version" || containsHelp(args) {
		runHere(t, where, show, args)
		return
	}
	c, rest, extra := find(args)
	if c == nil || (c.setup == nil && extra != "") {
		t.Errorf("%s: %q: no such command (%q)", where, show, extra)
		return
	}
	if c.setup == nil {
		t.Errorf("%s: %q names a group, not a command", where, show)
		return
	}
	pos, err := parseOnly(c, rest)
	if err != nil {
		t.Errorf("%s: %q: %v", where, show, err)
		return
	}
	// The command's own help works, with these arguments too.
	runHere(t, where, show+" --help", append(append([]string{}, args...), "--help"))
	switch {
	case c.name == "policy check" && inRepo(pos[0]):
		runHere(t, where, show, withRepoPaths(args))
	case c.name == "serve" && hasFlag(rest, "check") && inRepo(flagValue(rest, "c")):
		runHere(t, where, show, withRepoPaths(args))
	default:
		t.Logf("%s: parsed only (needs a daemon, root or a file outside the repository): %s", where, show)
	}
}

func containsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if isHelp(a) {
			return true
		}
	}
	return false
}

// runHere runs args through the CLI and requires exit status 0.
func runHere(t *testing.T, where, show string, args []string) {
	t.Helper()
	out, errOut, code := cli2(args...)
	if code != 0 {
		t.Errorf("%s: %q: exit %d\n%s%s", where, show, code, out, errOut)
		return
	}
	t.Logf("%s: ran: %s", where, show)
}

// parseOnly does what run does before it calls the command: parse the
// flags with the command's flag set and check the number of arguments.
func parseOnly(c *command, rest []string) ([]string, error) {
	fs, _, _ := newFlagSet(c, io.Discard, io.Discard)
	pos, err := parse(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if c.nargs >= 0 && len(pos) != c.nargs {
		return nil, clikit.Usagef("%s takes %d argument(s), got %d: %q", c.name, c.nargs, len(pos), pos)
	}
	return pos, nil
}

// inRepo: p is a relative path of a file in the repository.
func inRepo(p string) bool {
	if p == "" || filepath.IsAbs(p) {
		return false
	}
	st, err := os.Stat(filepath.Join(repoRoot, p))
	return err == nil && st.Mode().IsRegular()
}

// withRepoPaths rewrites arguments that are repository paths to be
// relative to this package's directory, where the test runs.
func withRepoPaths(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if !strings.HasPrefix(a, "-") && inRepo(a) {
			a = filepath.Join(repoRoot, a)
		}
		out[i] = a
	}
	return out
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "-"+name || a == "--"+name || strings.HasPrefix(a, "-"+name+"=") || strings.HasPrefix(a, "--"+name+"=") {
			return true
		}
	}
	return false
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		for _, p := range []string{"-" + name, "--" + name} {
			if a == p && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, p+"="); ok {
				return v
			}
		}
	}
	return ""
}

// TestDocsBlockExtraction: the extractor finds commands where a shell
// would run them, and nowhere else (a test that could not fail would
// pass with no commands found).
func TestDocsBlockExtraction(t *testing.T) {
	got := licgateInvocations(`sudo licgate serve -c /etc/licgate/licgate.yaml   # comment
sudo systemctl reload licgate   # or: licgate policy reload
LICGATE_SOCKET=/run/x.sock licgate sessions --json > out.json
licgate device add alice laptop \
  --out alice-laptop
echo ok && licgate version | head -1
./licgate serve --check -c deploy/licgate.example.yaml
/etc/init.d/licgate start
`)
	want := [][]string{
		{"serve", "-c", "/etc/licgate/licgate.yaml"},
		{"sessions", "--json"},
		{"device", "add", "alice", "laptop", "--out", "alice-laptop"},
		{"version"},
		{"serve", "--check", "-c", "deploy/licgate.example.yaml"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d invocations: %v", len(got), got)
	}
	for i := range want {
		if strings.Join(got[i].args, " ") != strings.Join(want[i], " ") {
			t.Errorf("%d: got %q, want %q", i, got[i].args, want[i])
		}
	}
	bs := blocks("text\n<!-- fragment -->\n```yaml\na: 1\n```\n\n```sh\nlicgate version\n```\n")
	if len(bs) != 2 || !bs[0].fragment || bs[1].fragment || bs[1].lang != "sh" || bs[0].line != 3 {
		t.Fatalf("blocks: %+v", bs)
	}
}
