package licmgr

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Severity of a lint finding.
type Severity string

// Severities: an Error keeps the manager from working through licgate; a
// Warning works but is fragile or unusual.
const (
	SevError   Severity = "error"
	SevWarning Severity = "warning"
)

// Finding is one problem in a license file.
type Finding struct {
	File     string
	Line     int // the line the keyword is on (1-based)
	Severity Severity
	Message  string
	// Fix is the exact corrected line (the whole logical line, written on
	// one physical line), or "" when there is nothing to write.
	Fix string
}

func (f Finding) String() string {
	s := fmt.Sprintf("%s:%d: %s: %s", f.File, f.Line, f.Severity, f.Message)
	if f.Fix != "" {
		s += "\n    fix: " + f.Fix
	}
	return s
}

// LicenseFile is what licgate needs of a license file: the server's port
// and the daemons with their ports (0 when unpinned).
type LicenseFile struct {
	Manager Kind // FlexNet or RLM
	// Servers are the SERVER (HOST) lines: one, or three for FlexNet's
	// three-server redundancy.
	Servers []ServerLine
	// Daemons are the VENDOR/DAEMON (ISV) lines.
	Daemons []DaemonLine
}

// ServerLine is a SERVER or HOST line.
type ServerLine struct {
	Line         int
	Host, HostID string
	Port         int // 0 if none
}

// DaemonLine is a VENDOR, DAEMON or ISV line.
type DaemonLine struct {
	Line int
	Name string
	Port int // 0 if unpinned
}

// PinnedDaemons are the daemons with a port, for Expand.
func (lf *LicenseFile) PinnedDaemons() []Daemon {
	var out []Daemon
	for _, d := range lf.Daemons {
		if d.Port != 0 {
			out = append(out, Daemon{Name: d.Name, Port: d.Port})
		}
	}
	return out
}

// ServerPort is the first SERVER/HOST line's port, or 0.
func (lf *LicenseFile) ServerPort() int {
	if len(lf.Servers) == 0 {
		return 0
	}
	return lf.Servers[0].Port
}

// LintOptions tune Lint.
type LintOptions struct {
	// Manager forces FlexNet or RLM. If empty, guessed from the keywords
	// (HOST, ISV, LICENSE or sig= mean RLM; otherwise FlexNet).
	Manager Kind
	// Host replaces a placeholder host name (this_host, server_name,
	// <hostname>, ...) in the corrected SERVER/HOST line. If empty, the
	// fix keeps the placeholder and says so.
	Host string
}

// ErrNotLicense: the file has no line a FlexNet or RLM license file has.
var ErrNotLicense = errors.New("licmgr: not a FlexNet or RLM license file")

// maxLicenseFile bounds what LintFile reads: real ones are kilobytes.
const maxLicenseFile = 4 << 20

// LintFile reads and lints a license file.
func LintFile(path string, o LintOptions) ([]Finding, *LicenseFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("licmgr: license file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("licmgr: license file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("licmgr: license file %s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxLicenseFile+1))
	if err != nil {
		return nil, nil, fmt.Errorf("licmgr: reading license file %s: %w", path, err)
	}
	if len(data) > maxLicenseFile {
		return nil, nil, fmt.Errorf("licmgr: license file %s is larger than %d bytes", path, maxLicenseFile)
	}
	return Lint(path, data, o)
}

// logical is one logical line: physical lines joined at a trailing '\'.
type logical struct {
	line   int // first physical line
	fields []string
	open   bool // the file ended inside a continuation
}

// splitLogical joins continuation lines and drops comments and blanks.
func splitLogical(data []byte) []logical {
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	text = strings.TrimPrefix(text, "\ufeff")
	text = strings.TrimSuffix(text, "\n") // the last line's end is no empty line after it
	var out []logical
	var cur *logical
	var buf strings.Builder
	for i, raw := range strings.Split(text, "\n") {
		s := strings.TrimRight(raw, " \t\r")
		if cur == nil {
			t := strings.TrimSpace(s)
			if t == "" || strings.HasPrefix(t, "#") {
				continue
			}
			cur = &logical{line: i + 1}
			buf.Reset()
		}
		cont := strings.HasSuffix(s, "\\")
		buf.WriteString(strings.TrimSuffix(s, "\\"))
		buf.WriteByte(' ')
		if !cont {
			cur.fields = fieldsQuoted(buf.String())
			out = append(out, *cur)
			cur = nil
		}
	}
	if cur != nil {
		cur.fields = fieldsQuoted(buf.String())
		cur.open = true
		out = append(out, *cur)
	}
	return out
}

// fieldsQuoted splits on blanks, keeping "quoted strings" in one field.
func fieldsQuoted(s string) []string {
	var out []string
	var b strings.Builder
	inQuote, have := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			b.WriteRune(r)
			have = true
		case (r == ' ' || r == '\t') && !inQuote:
			if have {
				out = append(out, b.String())
				b.Reset()
				have = false
			}
		default:
			b.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, b.String())
	}
	return out
}

// Lint checks a license file's server and daemon lines for use through a
// gateway. name is used in findings ("license.dat:3: ...").
func Lint(name string, data []byte, o LintOptions) ([]Finding, *LicenseFile, error) {
	lines := splitLogical(data)
	mgr := o.Manager
	if mgr == "" {
		mgr = guessManager(lines)
	}
	if mgr == "" {
		return nil, nil, fmt.Errorf("%w: %s has no SERVER, HOST, VENDOR, DAEMON, ISV, FEATURE, INCREMENT or LICENSE line", ErrNotLicense, name)
	}
	if mgr != FlexNet && mgr != RLM {
		return nil, nil, fmt.Errorf("%w: license files are linted for flexnet and rlm, not %s", ErrKind, mgr)
	}
	l := &linter{name: name, mgr: mgr, host: o.Host, lf: &LicenseFile{Manager: mgr}, all: lines}
	for _, ln := range lines {
		l.line(ln)
	}
	l.afterAll()
	return l.findings, l.lf, nil
}

func guessManager(lines []logical) Kind {
	mgr := Kind("")
	for _, ln := range lines {
		if len(ln.fields) == 0 {
			continue
		}
		switch strings.ToUpper(ln.fields[0]) {
		case "HOST", "ISV", "LICENSE", "UPGRADE", "CUSTOMER":
			return RLM
		case "SERVER", "VENDOR", "DAEMON", "FEATURE", "INCREMENT", "USE_SERVER", "PACKAGE", "UPGRADE_FEATURE", "FEATURESET":
			mgr = FlexNet
		}
		for _, f := range ln.fields[1:] {
			if strings.HasPrefix(strings.ToLower(f), "sig=") || strings.HasPrefix(f, "_ck=") {
				return RLM
			}
		}
	}
	return mgr
}

type linter struct {
	name     string
	mgr      Kind
	host     string
	lf       *LicenseFile
	findings []Finding
	pending  []int     // indexes of daemon lines that need a suggested port
	all      []logical // every logical line, for the corrected lines
}

func (l *linter) add(line int, sev Severity, fix, format string, args ...any) {
	l.findings = append(l.findings, Finding{File: l.name, Line: line, Severity: sev, Message: fmt.Sprintf(format, args...), Fix: fix})
}

func (l *linter) line(ln logical) {
	if ln.open {
		l.add(ln.line, SevError, "", "the line ends in a continuation '\\' but the file ends: the license manager will refuse it (the file was cut short?)")
	}
	kw := strings.ToUpper(ln.fields[0])
	switch {
	case kw == "SERVER" || (l.mgr == RLM && kw == "HOST"):
		l.server(ln)
	case kw == "VENDOR" || kw == "DAEMON" || (l.mgr == RLM && kw == "ISV"):
		l.daemon(ln)
	}
}

// placeholders are host names vendors ship for the admin to replace.
var placeholders = []string{"this_host", "server_name", "hostname", "your_server", "servername", "my_server", "rlm_server_hostname"}

func isPlaceholder(h string) bool {
	lh := strings.ToLower(h)
	return slices.Contains(placeholders, lh) || strings.HasPrefix(lh, "<") || strings.HasSuffix(lh, ">")
}

func (l *linter) server(ln logical) {
	f := ln.fields
	kw := f[0]
	if len(f) < 3 {
		l.add(ln.line, SevError, "", "%s needs a host name and a hostid (%s host hostid [port])", kw, kw)
		return
	}
	s := ServerLine{Line: ln.line, Host: f[1], HostID: f[2]}
	portIdx := -1
	if len(f) >= 4 {
		if p, err := strconv.Atoi(f[3]); err == nil {
			s.Port, portIdx = p, 3
		}
	}
	for i := 3; i < len(f) && portIdx < 0; i++ { // PORT= keyword form (FlexNet accepts it)
		if v, ok := cutFold(f[i], "port="); ok {
			if p, err := strconv.Atoi(v); err == nil {
				s.Port, portIdx = p, i
			}
		}
	}
	l.lf.Servers = append(l.lf.Servers, s)
	fixed := slices.Clone(f)
	changed := false
	var why []string
	if isPlaceholder(s.Host) {
		if l.host != "" {
			fixed[1] = l.host
			changed = true
			why = append(why, fmt.Sprintf("host %q is a placeholder: the license server's name goes here", s.Host))
		} else {
			l.add(ln.line, SevWarning, "", "host %q is a placeholder: put the license server's own host name here (licgate license lint --host NAME writes the line)", s.Host)
		}
	}
	def := l.defaultServerPort()
	switch {
	case portIdx < 0:
		fixed = insertAt(fixed, 3, strconv.Itoa(def))
		changed = true
		if l.mgr == FlexNet {
			why = append(why, fmt.Sprintf("no port: lmgrd takes the first free one of 27000-27009, so clients and licgate must try ten ports; pin it (%d)", def))
		} else {
			why = append(why, fmt.Sprintf("no port: rlm uses %d; write it so the port licgate forwards is the one in the file", def))
		}
	case s.Port < 1 || s.Port > 65535:
		fixed[portIdx] = strconv.Itoa(def)
		changed = true
		why = append(why, fmt.Sprintf("port %d is not a TCP port", s.Port))
	case s.Port < 1024:
		l.add(ln.line, SevWarning, "", "port %d is privileged: on Unix the license manager must run as root to bind it", s.Port)
	}
	if changed {
		sev := SevWarning // a missing port or a placeholder host still works through the profile's defaults
		if portIdx >= 0 && (s.Port < 1 || s.Port > 65535) {
			sev = SevError
		}
		l.add(ln.line, sev, strings.Join(fixed, " "), "%s line: %s", kw, strings.Join(why, "; "))
	}
	if n := len(l.lf.Servers); n == 2 && l.mgr == FlexNet {
		l.add(ln.line, SevWarning, "", "more than one SERVER line: three-server redundancy; licgate forwards to one upstream, so list the master as services[].upstream and expect a pause when the master changes")
	}
}

func (l *linter) defaultServerPort() int {
	if l.mgr == RLM {
		return RLMPort
	}
	return LmgrdFirstPort
}

func (l *linter) daemon(ln logical) {
	f := ln.fields
	kw := f[0]
	if len(f) < 2 {
		l.add(ln.line, SevError, "", "%s needs the daemon's name", kw)
		return
	}
	d := DaemonLine{Line: ln.line, Name: f[1]}
	portIdx := -1
	var positional []int // indexes of fields without '='
	for i := 2; i < len(f); i++ {
		if v, ok := cutFold(f[i], "port="); ok {
			p, err := strconv.Atoi(v)
			if err != nil || p < 1 || p > 65535 {
				l.add(ln.line, SevError, "", "%s %s: %q is not a port", kw, d.Name, f[i])
				l.lf.Daemons = append(l.lf.Daemons, d)
				return
			}
			d.Port, portIdx = p, i
			continue
		}
		if !strings.Contains(f[i], "=") {
			positional = append(positional, i)
		}
	}
	// Positional port: FlexNet's pre-v6 DAEMON name path options port, and
	// RLM's pre-v9 ISV name binary options port. Only a number in the
	// fourth place counts.
	if portIdx < 0 && len(positional) >= 3 {
		if p, err := strconv.Atoi(f[positional[2]]); err == nil && p > 0 && p <= 65535 {
			d.Port, portIdx = p, positional[2]
		}
	}
	l.lf.Daemons = append(l.lf.Daemons, d)
	if portIdx < 0 {
		l.pending = append(l.pending, len(l.lf.Daemons)-1)
	}
}

// afterAll suggests ports for unpinned daemons once every pinned port and
// the server port are known, so suggestions collide with nothing.
func (l *linter) afterAll() {
	used := map[int]bool{}
	for _, s := range l.lf.Servers {
		used[s.Port] = true
	}
	for _, d := range l.lf.Daemons {
		used[d.Port] = true
	}
	if l.mgr == RLM {
		used[RLMPort], used[RLMWebPort] = true, true
	} else if sp := l.lf.ServerPort(); sp == 0 {
		used[LmgrdFirstPort] = true
	}
	next := l.lf.ServerPort()
	if next < 1024 {
		next = l.defaultServerPort() // suggest no privileged port, even beside a privileged server port
	}
	lines := map[int][]string{}
	for _, ln := range l.all {
		lines[ln.line] = ln.fields
	}
	for _, i := range l.pending {
		d := &l.lf.Daemons[i]
		p := next + 1
		for used[p] || p == 0 {
			p++
		}
		used[p] = true
		next = p
		f := lines[d.Line]
		fix := strings.Join(f, " ")
		kind, key := "vendor daemon", "PORT="
		if l.mgr == RLM {
			kind, key = "ISV server", "port="
		}
		fix += " " + key + strconv.Itoa(p)
		l.add(d.Line, SevError, fix, "%s %s has no %s: the %s's port is picked at random when it starts, so licgate cannot forward it and clients get no license from home; pin it (any free port; %d is free in this file) and restart the license manager", f[0], d.Name, key, kind, p)
	}
	if len(l.lf.Daemons) == 0 && len(l.lf.Servers) > 0 {
		kw := "VENDOR"
		if l.mgr == RLM {
			kw = "ISV"
		}
		l.add(l.lf.Servers[0].Line, SevWarning, "", "no %s line: a served license file names its %s with its port", kw, map[Kind]string{FlexNet: "vendor daemon", RLM: "ISV server"}[l.mgr])
	}
	slices.SortStableFunc(l.findings, func(a, b Finding) int { return a.Line - b.Line })
}

func insertAt(s []string, i int, v string) []string {
	if i > len(s) {
		i = len(s)
	}
	return slices.Insert(slices.Clone(s), i, v)
}

func cutFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return "", false
}

// Summary is one line for a linted file: the manager, the verdict and the
// ports found ("flexnet: 1 error(s) (lmgrd 27020, snpslmd unpinned)"), and
// the number of errors.
func (lf *LicenseFile) Summary(findings []Finding) (string, int) {
	errs, warns := 0, 0
	for _, f := range findings {
		if f.Severity == SevError {
			errs++
		} else {
			warns++
		}
	}
	var parts []string
	if sp := lf.ServerPort(); sp != 0 {
		name := "lmgrd"
		if lf.Manager == RLM {
			name = "rlm"
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, sp))
	}
	for _, d := range lf.Daemons {
		if d.Port != 0 {
			parts = append(parts, fmt.Sprintf("%s %d", d.Name, d.Port))
		} else {
			parts = append(parts, d.Name+" unpinned")
		}
	}
	verdict := "ok"
	if errs > 0 {
		verdict = fmt.Sprintf("%d error(s)", errs)
	}
	if warns > 0 {
		verdict += fmt.Sprintf(", %d warning(s)", warns)
	}
	return fmt.Sprintf("%s: %s (%s)", lf.Manager, verdict, strings.Join(parts, ", ")), errs
}
