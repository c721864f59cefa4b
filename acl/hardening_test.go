package acl

import (
	"math/rand/v2"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A deny rule outside its hours is no near miss: the denial is the
// default, or the near miss of the next allow rule, never the deny rule's.
func TestNearMissOnlyAllowRules(t *testing.T) {
	pol, err := Parse("n.yaml", []byte(`
rules:
  - {name: no weekends, action: deny, who: ["*"], hours: ["Sat,Sun 00:00-24:00"]}
  - {name: day, action: allow, who: [user:alice], hours: ["Mon-Fri 08:00-18:00"]}
  - {name: summer, action: allow, who: [user:bob], until: 2026-05-31}
`))
	if err != nil {
		t.Fatal(err)
	}
	e, _, err := Compile(pol, []string{"codemeter"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, when string
		kind       Kind
		reason     string
	}{
		{"carol", "2026-06-01T20:00", KindDefault, "no rule matched; service codemeter denies by default"},
		{"alice", "2026-06-01T20:00", KindOutsideWindow, "outside the hours of rule 1 (day)"},
		{"bob", "2026-06-01T20:00", KindExpired, "outside the dates of rule 2 (summer) (from - until 2026-05-31)"},
		{"alice", "2026-06-06T10:00", KindRule, "denied by rule 0 (no weekends)"},
	} {
		d := e.Decide(Request{User: tc.user, Service: "codemeter", Time: at(t, e, tc.when)})
		if d.Allow || d.Kind != tc.kind || d.Reason != tc.reason {
			t.Errorf("%s at %s: got allow=%v kind=%d %q, want deny kind=%d %q", tc.user, tc.when, d.Allow, d.Kind, d.Reason, tc.kind, tc.reason)
		}
	}
}

var (
	fileLineRE = regexp.MustCompile(`m\.yaml:\d+(:\d+)?: `)
	goTypeRE   = regexp.MustCompile(`acl\.|Spec\b|\[\]string|map\[|unknown key ""|yaml\.Node`)
)

// Every error a mutated policy gives names file:line, and unknown keys
// are named as written in YAML.
func TestMutatedPolicyErrorsNameFileLine(t *testing.T) {
	runs := 10000 // the count: 68 of 10,000 had no file:line
	if testing.Short() {
		runs = 1000
	}
	rng := rand.New(rand.NewPCG(13, 16))
	junk := []string{"\xff", "\xc3", "\x00", "\x01", "\x1b", "\t", "*x", "&a ", "*a", "!!binary ", "? ", "- ", ": ", "{", "}", "[", "]", "'", "\"", "%", "@", "`", "|", ">", "#", "\n", "  ", "<<: *a\n", "\u2028", "\ufeff", "\x7f", "\u0085"}
	src := []byte(office)
	bad := 0
	for i := 0; i < runs; i++ {
		data := append([]byte(nil), src...)
		for n := 1 + rng.IntN(3); n > 0; n-- {
			pos := rng.IntN(len(data) + 1)
			switch rng.IntN(4) {
			case 0: // insert junk
				j := junk[rng.IntN(len(junk))]
				data = append(data[:pos], append([]byte(j), data[pos:]...)...)
			case 1: // delete a run
				end := min(len(data), pos+1+rng.IntN(8))
				data = append(data[:pos], data[end:]...)
			case 2: // flip a byte
				if pos < len(data) {
					data[pos] ^= byte(1 << rng.IntN(8))
				}
			case 3: // duplicate a line
				if pos < len(data) {
					data = append(data[:pos], append([]byte("  x: 1\n"), data[pos:]...)...)
				}
			}
		}
		pol, err := Parse("m.yaml", data)
		if err == nil {
			_, _, err = Compile(pol, []string{"codemeter", "flexlm"})
		}
		if err != nil && testing.Verbose() {
			t.Log(err)
		}
		if err != nil && (!fileLineRE.MatchString(err.Error()) || goTypeRE.MatchString(err.Error())) {
			bad++
			if bad <= 10 {
				t.Errorf("error without file:line, or naming Go types: %v", err)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d mutated policies gave an error without m.yaml:LINE or with Go type names", bad, runs)
	}
}

func TestSignIn(t *testing.T) {
	pol, err := Parse("s.yaml", []byte(`
groups:
  staff: [alice]
rules:
  - {name: office, action: allow, who: [group:staff], hours: ["Mon-Fri 08:00-18:00"]}
  - {name: after hours, action: allow, who: [group:staff], signin: 12h}
`))
	if err != nil {
		t.Fatal(err)
	}
	e, _, err := Compile(pol, []string{"codemeter"})
	if err != nil {
		t.Fatal(err)
	}
	mon20 := at(t, e, "2026-06-01T20:00")
	for _, tc := range []struct {
		name   string
		user   string
		when   time.Time
		signin time.Time
		allow  bool
		rule   int
		kind   Kind
	}{
		{"office hours: no sign-in needed", "alice", at(t, e, "2026-06-01T10:00"), time.Time{}, true, 0, KindRule},
		{"after hours, never signed in", "alice", mon20, time.Time{}, false, -1, KindSignIn},
		{"after hours, signed in 2h ago", "alice", mon20, mon20.Add(-2 * time.Hour), true, 1, KindRule},
		{"window end is exclusive", "alice", mon20, mon20.Add(-12 * time.Hour), false, -1, KindSignIn},
		{"last minute of the window", "alice", mon20, mon20.Add(-12*time.Hour + time.Minute), true, 1, KindRule},
		{"not staff: default, no sign-in prompt", "bob", mon20, time.Time{}, false, -1, KindDefault},
	} {
		req := Request{User: tc.user, Service: "codemeter", Time: tc.when, LastSignIn: tc.signin}
		d := e.Decide(req)
		if d.Allow != tc.allow || d.Rule != tc.rule || d.Kind != tc.kind {
			t.Errorf("%s: got allow=%v rule=%d kind=%s (%s), want allow=%v rule=%d kind=%s", tc.name, d.Allow, d.Rule, d.Kind, d.Reason, tc.allow, tc.rule, tc.kind)
		}
		if d.Kind == KindSignIn && !strings.HasPrefix(d.Reason, SignInText) {
			t.Errorf("%s: reason %q does not start with %q", tc.name, d.Reason, SignInText)
		}
		if x := e.Explain(req); x.Decision != d {
			t.Errorf("%s: Explain says %+v, Decide %+v", tc.name, x.Decision, d)
		}
	}
	if !KindSignIn.Grace() || !KindOutsideWindow.Grace() || KindExpired.Grace() || KindCap.Grace() {
		t.Error("Grace: sign-in and hours windows get the grace, nothing else")
	}
	if KindSignIn.String() != "signin_required" || KindOutsideWindow.String() != "hours" {
		t.Errorf("kind names: %s, %s", KindSignIn, KindOutsideWindow)
	}
	x := e.Explain(Request{User: "alice", Service: "codemeter", Time: mon20})
	for _, want := range []string{"rule 1 (after hours), line 6, allow group:staff: skipped: needs a sign-in within 12h", "decision: DENY (sign in at the portal to unlock"} {
		if !strings.Contains(x.Text, want) {
			t.Errorf("explain lacks %q:\n%s", want, x.Text)
		}
	}
}

func TestSignInErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"rules:\n  - {action: allow, who: ['*'], signin: 12x}\n", `p.yaml:2: rule 0: signin "12x": expected a duration`},
		{"rules:\n  - {action: allow, who: ['*'], signin: 0s}\n", `p.yaml:2: rule 0: signin "0s"`},
		{"rules:\n  - {action: allow, who: ['*'], signin: -1h}\n", `p.yaml:2: rule 0: signin "-1h"`},
		{"rules:\n\n  - action: allow\n    who: ['*']\n    signin: 401d\n", `p.yaml:3: rule 0: signin "401d"`},
		{"rules:\n  - {action: deny, who: ['*'], signin: 12h}\n", "p.yaml:2: rule 0: signin only makes sense on allow rules"},
		{"rules:\n  - {action: allow, who: ['*'], signin: [12h]}\n", "p.yaml:2: expected a string"},
	} {
		pol, err := Parse("p.yaml", []byte(tc.yaml))
		if err == nil {
			_, _, err = Compile(pol, []string{"codemeter"})
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
	for _, ok := range []string{"12h", "90m", "1h30m", "7d", "1m", "400d"} {
		if _, err := parseSignIn(ok); err != nil {
			t.Errorf("parseSignIn(%q): %v", ok, err)
		}
	}
}

// Explain answers the live question: a full pool and a disabled user
// are denials there too.
func TestExplainShowsLiveDecision(t *testing.T) {
	e := compileOffice(t)
	now := at(t, e, "2026-06-01T10:00")
	x := e.Explain(Request{User: "alice", Device: "laptop", Service: "codemeter", Time: now, Counts: MapCounts{"service:codemeter": 8}})
	if x.Allow || x.Kind != KindCap || !strings.Contains(x.Text, "cap: service codemeter pool: 8 of 8: FULL") || !strings.Contains(x.Text, "decision: DENY") {
		t.Errorf("full pool: %+v\n%s", x.Decision, x.Text)
	}
	x = e.Explain(Request{User: "alice", Device: "laptop", Service: "codemeter", Time: now, UserDisabled: true})
	if x.Allow || x.Kind != KindDisabled || !strings.Contains(x.Text, "decision: DENY (the user is disabled)") {
		t.Errorf("disabled: %+v\n%s", x.Decision, x.Text)
	}
}

// Property: for random policies and requests, Explain's decision is
// Decide's, field for field (and Decide agrees with the plain walk).
func TestExplainAgreesWithDecide(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 17))
	office := compileOffice(t)
	users := []string{"alice", "bob", "carol", "dan", "erin", "frank", "gina", "hank", "ivan", "mallory", "nobody"}
	keys := []string{"device", "user", "rule:2", "rule:5", "group:interns", "service:codemeter", "service"}
	base := at(t, office, "2026-05-25T00:00")
	for i := 0; i < 3000; i++ {
		req := Request{User: users[rng.IntN(len(users))], Device: []string{"pc", "laptop", "tablet"}[rng.IntN(3)],
			Service: []string{"codemeter", "flexlm", "rlm"}[rng.IntN(3)], Time: base.Add(time.Duration(rng.IntN(60*24*90)) * time.Minute)}
		if rng.IntN(2) == 0 {
			m := MapCounts{}
			for _, k := range keys {
				m[k] = rng.IntN(10)
			}
			req.Counts = m
		}
		if rng.IntN(3) == 0 {
			req.LastSignIn = req.Time.Add(-time.Duration(rng.IntN(24*60)) * time.Minute)
		}
		req.UserDisabled = rng.IntN(10) == 0
		if rng.IntN(3) == 0 {
			req.Source = netip.AddrFrom4([4]byte{10, 44, 0, byte(rng.IntN(256))})
		}
		if d, x := office.Decide(req), office.Explain(req); x.Decision != d {
			t.Fatalf("office policy, %+v: Explain %+v, Decide %+v\n%s", req, x.Decision, d, x.Text)
		}
	}
	for i := 0; i < 300; i++ {
		polBytes := make([]byte, 6*(1+rng.IntN(20)))
		for k := range polBytes {
			polBytes[k] = byte(rng.Uint32())
		}
		src := genPolicy(polBytes)
		pol, err := Parse("gen.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		e, _, err := Compile(pol, fzSvcs)
		if err != nil {
			t.Fatal(err)
		}
		gbase := time.Date(2026, 6, 1, 0, 0, 0, 0, e.loc)
		for j := 0; j < 30; j++ {
			var rb [8]byte
			for k := range rb {
				rb[k] = byte(rng.Uint32())
			}
			req := genRequest(rb[:], gbase)
			d, x := e.Decide(req), e.Explain(req)
			allow, rule, kind := reference(e, req)
			if x.Decision != d || d.Allow != allow || d.Rule != rule || d.Kind != kind {
				t.Fatalf("%+v: Decide %+v, Explain %+v, plain walk allow=%v rule=%d kind=%s\n%s\n%s", req, d, x.Decision, allow, rule, kind, x.Text, src)
			}
		}
	}
}

// Anchors, aliases and merge keys read like the YAML they are.
func TestPolicyAliases(t *testing.T) {
	pol, err := Parse("a.yaml", []byte(`
groups:
  staff: &people [alice, bob]
  copy: *people
rules:
  - &base {name: base, action: allow, who: [group:staff], hours: ["Mon-Fri 08:00-18:00"]}
  - <<: *base
    name: flex
    services: [flexlm]
    hours: *hrs
  - {action: deny, who: ["*"], hours: &hrs ["daily 00:00-24:00"]}
`))
	if err == nil {
		_, _, err = Compile(pol, []string{"codemeter", "flexlm"})
	}
	if err == nil || !strings.Contains(err.Error(), "a.yaml:") {
		t.Fatalf("alias before its anchor: %v", err)
	}
	pol, err = Parse("a.yaml", []byte(`
groups:
  staff: &people [alice, bob]
  copy: *people
rules:
  - &base {name: base, action: allow, who: [group:copy], hours: ["Mon-Fri 08:00-18:00"], services: [codemeter]}
  - <<: *base
    name: flex
    services: [flexlm]
`))
	if err != nil {
		t.Fatal(err)
	}
	e, _, err := Compile(pol, []string{"codemeter", "flexlm"})
	if err != nil {
		t.Fatal(err)
	}
	if got := pol.Rules[1]; got.Name != "flex" || got.Action != "allow" || len(got.Hours) != 1 || got.Services[0] != "flexlm" {
		t.Errorf("merged rule: %+v", got)
	}
	if d := e.Decide(Request{User: "bob", Service: "flexlm", Time: at(t, e, "2026-06-01T10:00")}); !d.Allow || d.Rule != 1 {
		t.Errorf("bob flexlm: %+v", d)
	}
}
