package acl

import (
	"errors"
	"fmt"
	"github.com/licgate/licgate/acl/acltest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

const office = `
timezone: Europe/Berlin
services:
  codemeter: {max_sessions: 8}
  flexlm:
groups:
  architects: [alice, bob]
  interns: {members: [carol, dan], max_sessions: 2}
  staff: [group:architects, group:interns, erin]
  night: [frank]
rules:
  - name: banned
    action: deny
    who: [user:mallory]
  - name: laptop only
    action: deny
    who: [device:bob/tablet]
  - name: architects
    action: allow
    who: [group:architects]
    services: [codemeter]
    max_sessions_per_device: 1
    max_sessions_per_user: 2
  - name: interns office hours
    action: allow
    who: [group:interns]
    hours: ["Mon-Fri 08:00-18:00"]
    until: 2026-06-30
  - name: night shift
    action: allow
    who: [user:frank]
    hours: ["Mon-Fri 22:00-06:00"]
  - name: contractors
    action: allow
    who: [user:gina]
    from: 2026-07-01
    until: 2026-07-31
    max_sessions: 1
  - name: lan only
    action: allow
    who: [user:hank]
    source: [10.44.0.128/25]
  - name: everyone flexlm
    action: allow
    who: ["*"]
    services: [flexlm]
  - name: after sign-in
    action: allow
    who: [user:ivan]
    signin: 12h
tests:
  - {user: carol, service: codemeter, at: "2026-06-01T20:00", expect: deny}
  - {user: carol, service: codemeter, at: "2026-06-01T09:00", expect: allow, rule: 3}
  - {user: alice, service: codemeter, at: "2026-12-24T03:00", expect: allow, sessions: {user: 1}}
  - {user: alice, service: codemeter, at: "2026-12-24T03:00", expect: deny, sessions: {user: 2}}
  - {user: ivan, service: codemeter, at: "2026-12-24T03:00", expect: deny}
  - {user: ivan, service: codemeter, at: "2026-12-24T03:00", signed_in: "2026-12-23T16:00", expect: allow, rule: 8}
`

func compileOffice(t testing.TB) *Engine {
	t.Helper()
	pol, err := Parse("office.yaml", []byte(office))
	if err != nil {
		t.Fatal(err)
	}
	e, _, err := Compile(pol, []string{"codemeter", "flexlm"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func at(t testing.TB, e *Engine, s string) time.Time {
	t.Helper()
	tm, err := e.ParseTime(s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestDecideTable(t *testing.T) {
	e := compileOffice(t)
	const A, D = true, false
	for _, tc := range []struct {
		allow   bool
		rule    int
		user    string
		dev     string
		svc     string
		when    string
		counts  MapCounts
		src     string
		kind    Kind
		comment string
	}{
		{D, 0, "mallory", "pc", "codemeter", "2026-06-01T10:00", nil, "", KindRule, "explicit deny first"},
		{D, 0, "mallory", "pc", "flexlm", "2026-06-01T10:00", nil, "", KindRule, "deny beats the later wildcard"},
		{A, 2, "alice", "laptop", "codemeter", "2026-06-01T10:00", nil, "", KindRule, "group allow"},
		{A, 2, "alice", "laptop", "codemeter", "2026-06-06T03:00", nil, "", KindRule, "no hours: any time"},
		{D, -1, "alice", "laptop", "nosuch", "2026-06-01T10:00", nil, "", KindUnknownService, "unknown service"},
		{D, 1, "bob", "tablet", "codemeter", "2026-06-01T10:00", nil, "", KindRule, "device rule before group rule"},
		{A, 2, "bob", "laptop", "codemeter", "2026-06-01T10:00", nil, "", KindRule, "other device of bob"},
		{D, 2, "alice", "laptop", "codemeter", "2026-06-01T10:00", MapCounts{"device": 1}, "", KindCap, "device cap"},
		{D, 2, "alice", "laptop", "codemeter", "2026-06-01T10:00", MapCounts{"user": 2}, "", KindCap, "user cap"},
		{D, 2, "alice", "laptop", "codemeter", "2026-06-01T10:00", MapCounts{"service:codemeter": 8}, "", KindCap, "service pool"},
		{A, 2, "alice", "laptop", "codemeter", "2026-06-01T10:00", MapCounts{"service:codemeter": 7}, "", KindRule, "service pool not full"},
		{A, 3, "carol", "pc", "codemeter", "2026-06-01T08:00", nil, "", KindRule, "window start is inclusive"},
		{D, -1, "carol", "pc", "codemeter", "2026-06-01T18:00", nil, "", KindOutsideWindow, "window end is exclusive"},
		{A, 3, "carol", "pc", "codemeter", "2026-06-01T17:59", nil, "", KindRule, "last minute"},
		{D, -1, "carol", "pc", "codemeter", "2026-06-06T10:00", nil, "", KindOutsideWindow, "Saturday"},
		{D, 3, "carol", "pc", "codemeter", "2026-06-01T10:00", MapCounts{"group:interns": 2}, "", KindCap, "group pool"},
		{D, -1, "carol", "pc", "codemeter", "2026-06-30T23:59", nil, "", KindOutsideWindow, "before until, but outside hours"},
		{A, 3, "carol", "pc", "codemeter", "2026-06-30T17:59", nil, "", KindRule, "last day of until"},
		{D, -1, "carol", "pc", "codemeter", "2026-07-01T09:00", nil, "", KindExpired, "expired at midnight"},
		{A, 3, "dan", "pc", "flexlm", "2026-06-01T10:00", nil, "", KindRule, "first match: interns rule covers flexlm too"},
		{A, 7, "dan", "pc", "flexlm", "2026-06-01T20:00", nil, "", KindRule, "outside interns hours, wildcard flexlm"},
		{A, 4, "frank", "pc", "codemeter", "2026-06-01T23:00", nil, "", KindRule, "overnight, evening part (Mon)"},
		{A, 4, "frank", "pc", "codemeter", "2026-06-02T05:59", nil, "", KindRule, "overnight, morning part (Tue, from Mon)"},
		{A, 4, "frank", "pc", "codemeter", "2026-06-06T05:00", nil, "", KindRule, "Sat morning belongs to Fri night"},
		{D, -1, "frank", "pc", "codemeter", "2026-06-01T05:00", nil, "", KindOutsideWindow, "Mon morning: Sun night not in window"},
		{D, -1, "frank", "pc", "codemeter", "2026-06-06T23:00", nil, "", KindOutsideWindow, "Sat night"},
		{D, -1, "frank", "pc", "codemeter", "2026-06-02T06:00", nil, "", KindOutsideWindow, "overnight end exclusive"},
		{D, -1, "gina", "pc", "codemeter", "2026-06-30T23:59", nil, "", KindExpired, "before from"},
		{A, 5, "gina", "pc", "codemeter", "2026-07-01T00:00", nil, "", KindRule, "from midnight"},
		{A, 5, "gina", "pc", "codemeter", "2026-07-31T23:59", nil, "", KindRule, "until is inclusive"},
		{D, -1, "gina", "pc", "codemeter", "2026-08-01T00:00", nil, "", KindExpired, "expired at midnight"},
		{D, 5, "gina", "pc", "codemeter", "2026-07-10T00:00", MapCounts{"rule:5": 1}, "", KindCap, "rule pool"},
		{A, 6, "hank", "pc", "codemeter", "2026-07-10T00:00", nil, "10.44.0.200", KindRule, "source inside"},
		{D, -1, "hank", "pc", "codemeter", "2026-07-10T00:00", nil, "10.44.0.20", KindDefault, "source outside"},
		{D, -1, "nobody", "pc", "codemeter", "2026-07-10T00:00", nil, "", KindDefault, "unknown user: default deny"},
		{A, 7, "nobody", "pc", "flexlm", "2026-07-10T00:00", nil, "", KindRule, "unknown user: wildcard"},
		{A, 7, "erin", "pc", "flexlm", "2026-06-01T10:00", nil, "", KindRule, "erin is staff, not intern: wildcard"},
		{D, -1, "erin", "pc", "codemeter", "2026-06-01T10:00", nil, "", KindDefault, "staff has no codemeter rule"},
	} {
		req := Request{User: tc.user, Device: tc.dev, Service: tc.svc, Time: at(t, e, tc.when)}
		if tc.counts != nil {
			req.Counts = tc.counts
		}
		if tc.src != "" {
			req.Source = netip.MustParseAddr(tc.src)
		}
		d := e.Decide(req)
		if d.Allow != tc.allow || d.Rule != tc.rule || d.Kind != tc.kind {
			t.Errorf("%s: %s/%s %s at %s: got allow=%v rule=%d kind=%d (%s), want allow=%v rule=%d kind=%d",
				tc.comment, tc.user, tc.dev, tc.svc, tc.when, d.Allow, d.Rule, d.Kind, d.Reason, tc.allow, tc.rule, tc.kind)
		}
		if d.Reason == "" {
			t.Errorf("%s: empty reason", tc.comment)
		}
	}
}

// Office hours follow the wall clock across DST changes in the office zone.
func TestDST(t *testing.T) {
	pol, err := Parse("dst.yaml", []byte(`
timezone: Europe/Berlin
rules:
  - {action: allow, who: ["*"], hours: ["Mon-Fri 07:00-19:00"]}
  - {action: allow, who: [user:owl], hours: ["daily 01:30-02:30"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	e, _, err := Compile(pol, []string{"codemeter"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		utc   string
		user  string
		allow bool
	}{
		{"2026-03-27T06:30:00Z", "x", true},  // Fri 07:30 CET (UTC+1)
		{"2026-03-27T05:30:00Z", "x", false}, // Fri 06:30 CET
		{"2026-03-30T05:30:00Z", "x", true},  // Mon 07:30 CEST (UTC+2): same UTC hour was 06:30 a week ago
		{"2026-03-30T04:30:00Z", "x", false}, // Mon 06:30 CEST
		{"2026-10-26T06:30:00Z", "x", true},  // Mon 07:30 CET after fall back
		{"2026-10-26T17:59:00Z", "x", true},  // Mon 18:59 CET
		{"2026-10-26T18:00:00Z", "x", false}, // Mon 19:00 CET
		// Spring forward: 02:00 -> 03:00 on 2026-03-29; 01:30-02:30 has only 01:30-02:00 that day.
		{"2026-03-29T00:45:00Z", "owl", true},  // 01:45 CET
		{"2026-03-29T01:15:00Z", "owl", false}, // 03:15 CEST
		// Fall back: 03:00 -> 02:00 on 2026-10-25; 02:15 happens twice, both inside.
		{"2026-10-25T00:15:00Z", "owl", true}, // 02:15 CEST
		{"2026-10-25T01:15:00Z", "owl", true}, // 02:15 CET
	} {
		tm, _ := time.Parse(time.RFC3339, tc.utc)
		if d := e.Decide(Request{User: tc.user, Service: "codemeter", Time: tm}); d.Allow != tc.allow {
			t.Errorf("%s (%s local) user %s: allow=%v, want %v (%s)", tc.utc, tm.In(e.Location()).Format("Mon 15:04 MST"), tc.user, d.Allow, tc.allow, d.Reason)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", "rules:\n  - {action: allow, who: ['*'], hourz: [x]}\n", "p.yaml:2: unknown key \"hourz\""},
		{"unknown top", "\nrulez: []\n", "p.yaml:2: unknown key \"rulez\""},
		{"bad action", "rules:\n  - action: permit\n    who: ['*']\n", "p.yaml:2: rule 0: action \"permit\""},
		{"no who", "rules:\n  - action: allow\n", "p.yaml:2: rule 0: missing who"},
		{"bare who", "rules:\n  - {action: allow, who: [alice]}\n", "p.yaml:2: rule 0: who \"alice\""},
		{"unknown group", "groups:\n  a: [x]\nrules:\n  - {action: allow, who: [group:b]}\n", "p.yaml:4: rule 0: who \"group:b\": no such group"},
		{"unknown service", "rules:\n  - {action: allow, who: ['*'], services: [rlm]}\n", "p.yaml:2: rule 0: unknown service \"rlm\" (known: codemeter)"},
		{"policy service not served", "services:\n  rlm: {}\n", "p.yaml:2: service \"rlm\" is not served"},
		{"cycle", "groups:\n  a: [group:b]\n  b: [group:c]\n  c: [group:a]\n", "groups form a cycle: a -> b -> c -> a"},
		{"self cycle", "groups:\n  a: [x, group:a]\n", "p.yaml:2: groups form a cycle: a -> a"},
		{"member group missing", "groups:\n  a: [group:zz]\n", "p.yaml:2: group a: member \"group:zz\": no such group"},
		{"empty window", "rules:\n  - {action: allow, who: ['*'], hours: ['Mon 08:00-08:00']}\n", "p.yaml:2: rule 0: hours \"Mon 08:00-08:00\": start and end are equal"},
		{"bad day", "rules:\n  - {action: allow, who: ['*'], hours: ['Mo-Fr 08:00-18:00']}\n", "is not a day"},
		{"bad clock", "rules:\n  - {action: allow, who: ['*'], hours: ['Mon 25:00-26:00']}\n", "is not a time of day"},
		{"until before from", "rules:\n  - {action: allow, who: ['*'], from: 2026-05-01, until: 2026-04-30}\n", "p.yaml:2: rule 0: until 2026-04-30 is before from 2026-05-01"},
		{"bad date", "rules:\n  - {action: allow, who: ['*'], until: 31.12.2026}\n", "expected a date YYYY-MM-DD"},
		{"cap on deny", "rules:\n  - {action: deny, who: ['*'], max_sessions: 1}\n", "caps only make sense on allow"},
		{"negative cap", "rules:\n  - {action: allow, who: ['*'], max_sessions: -1}\n", "p.yaml:2: expected a whole number"},
		{"bad zone", "timezone: Mars/Olympus\n", "unknown zone"},
		{"bad source", "rules:\n  - {action: allow, who: ['*'], source: [10.44.0.0]}\n", "source \"10.44.0.0\""},
		{"syntax", "rules: [\n", "p.yaml:"},
		{"failing test", "rules:\n  - {action: allow, who: ['*']}\ntests:\n  - {user: a, service: codemeter, at: '2026-01-01T10:00', expect: deny}\n",
			"p.yaml:4: test 0 (user a, service codemeter, at 2026-01-01T10:00): expected deny, got allow: allowed by rule 0"},
		{"test wrong rule", "rules:\n  - {action: allow, who: ['*']}\ntests:\n  - {user: a, service: codemeter, at: '2026-01-01T10:00', expect: allow, rule: 3}\n",
			"expected the decision from rule 3"},
		{"test without time", "tests:\n  - {user: a, service: codemeter, expect: deny}\n", "a test needs at"},
		{"dup key", "rules: []\nrules: []\n", "p.yaml:2: key \"rules\" given twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol, err := Parse("p.yaml", []byte(tc.yaml))
			if err == nil {
				_, _, err = Compile(pol, []string{"codemeter"})
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !errors.Is(err, ErrPolicy) {
				t.Errorf("not ErrPolicy: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\ndoes not contain %q", err, tc.want)
			}
		})
	}
}

func TestShadowWarnings(t *testing.T) {
	pol, err := Parse("s.yaml", []byte(`groups:
  g: [alice]
rules:
  - {action: allow, who: [group:g]}
  - {action: deny, who: [user:alice]}
  - {action: deny, who: [user:bob], hours: ["Mon 08:00-09:00"]}
  - {action: allow, who: [user:bob]}
  - {action: allow, who: ["*"], services: [codemeter]}
  - {action: deny, who: [user:carol], services: [codemeter]}
`))
	if err != nil {
		t.Fatal(err)
	}
	_, ws, err := Compile(pol, []string{"codemeter", "rlm"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range ws {
		got = append(got, w.String())
	}
	want := []string{
		"line 5: rule 1 is shadowed by rule 0 (line 4): it can never decide",
		"line 9: rule 5 is shadowed by rule 4 (line 8): it can never decide",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestExplain(t *testing.T) {
	e := compileOffice(t)
	out := e.Explain(Request{User: "carol", Device: "pc", Service: "codemeter", Time: at(t, e, "2026-06-01T20:00")}).Text
	for _, want := range []string{
		"request: user carol (groups: interns, staff), device pc, service codemeter, at 2026-06-01 20:00 CEST (Monday), never signed in",
		"rule 0 (banned), line 12, deny user:mallory: skipped: who does not match",
		"rule 3 (interns office hours), line 24, allow group:interns: skipped: outside hours Mon-Fri 08:00-18:00",
		"rule 7 (everyone flexlm), line 43, allow *: skipped: only for flexlm",
		"decision: DENY (outside the hours of rule 3 (interns office hours))",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
	out = e.Explain(Request{User: "alice", Device: "laptop", Service: "codemeter", Time: at(t, e, "2026-06-01T20:00")}).Text
	if !strings.Contains(out, "rule 2 (architects), line 18, allow group:architects: MATCHES") || !strings.Contains(out, "decision: ALLOW") {
		t.Errorf("explain:\n%s", out)
	}
}

type fixedCounts struct{ n int }

func (f *fixedCounts) DeviceSessions(string, string) int { return f.n }
func (f *fixedCounts) UserSessions(string) int           { return f.n }
func (f *fixedCounts) RuleSessions(int) int              { return f.n }
func (f *fixedCounts) GroupSessions(string) int          { return f.n }
func (f *fixedCounts) ServiceSessions(string) int        { return f.n }

func TestDecideNoAllocs(t *testing.T) {
	e := compileOffice(t)
	now := at(t, e, "2026-06-01T10:00")
	counts := &fixedCounts{0}
	reqs := []Request{
		{User: "alice", Device: "laptop", Service: "codemeter", Time: now, Counts: counts},
		{User: "carol", Device: "pc", Service: "codemeter", Time: now.Add(12 * time.Hour), Counts: counts},
		{User: "nobody", Device: "pc", Service: "codemeter", Time: now},
		{User: "bob", Device: "tablet", Service: "codemeter", Time: now, Source: netip.MustParseAddr("10.44.0.9")},
		{User: "ivan", Device: "pc", Service: "codemeter", Time: now, Counts: counts},
		{User: "ivan", Device: "pc", Service: "codemeter", Time: now, LastSignIn: now.Add(-time.Hour), Counts: counts},
		{User: "alice", Device: "laptop", Service: "codemeter", Time: now, UserDisabled: true},
	}
	for _, r := range reqs {
		r := r
		if n := testing.AllocsPerRun(200, func() { e.Decide(r) }); n != 0 {
			t.Errorf("Decide(%s) allocates %.1f times", r.User, n)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	pol, err := Parse("big.yaml", []byte(acltest.BigPolicy(10000, 1000)))
	if err != nil {
		b.Fatal(err)
	}
	e, _, err := Compile(pol, []string{"codemeter", "flexlm"})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 6, 3, 12, 0, 0, 0, e.Location())
	counts := &fixedCounts{1}
	reqs := make([]Request, 1024)
	for i := range reqs {
		reqs[i] = Request{User: fmt.Sprintf("u%d", (i*7919)%10000), Device: "pc", Service: []string{"codemeter", "flexlm"}[i%2],
			Time: now.Add(time.Duration(i) * 17 * time.Minute), Counts: counts}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.Decide(reqs[i&1023])
	}
}

func BenchmarkCompile(b *testing.B) {
	src := []byte(acltest.BigPolicy(10000, 1000))
	for i := 0; i < b.N; i++ {
		pol, err := Parse("big.yaml", src)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := Compile(pol, []string{"codemeter", "flexlm"}); err != nil {
			b.Fatal(err)
		}
	}
}
