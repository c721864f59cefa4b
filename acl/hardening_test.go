package acl

import (
	"math/rand/v2"
	"regexp"
	"testing"
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

var fileLineRE = regexp.MustCompile(`m\.yaml:\d+(:\d+)?: `)

// Every error a mutated policy gives names file:line, and unknown keys
// are named as written in YAML.
func TestMutatedPolicyErrorsNameFileLine(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 16))
	junk := []string{"\xff", "\xc3", "\x00", "\x01", "\x1b", "\t", "*x", "&a ", "*a", "!!binary ", "? ", "- ", ": ", "{", "}", "[", "]", "'", "\"", "%", "@", "`", "|", ">", "#", "\n", "  ", "<<: *a\n", "\u2028", "\ufeff", "\x7f", "\u0085"}
	src := []byte(office)
	bad := 0
	for i := 0; i < 3000; i++ {
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
		if err != nil && !fileLineRE.MatchString(err.Error()) {
			bad++
			if bad <= 10 {
				t.Errorf("error without file:line: %v", err)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of 3000 mutated policies gave an error without m.yaml:LINE", bad)
	}
}
