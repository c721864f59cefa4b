package acl

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// FuzzParse: no input makes the parser or compiler panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(office))
	f.Add([]byte("rules:\n  - {action: allow, who: ['*'], hours: ['Fri-Mon 22:00-02:00']}\n"))
	f.Add([]byte("groups:\n  a: {members: [group:a]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pol, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		e, _, err := Compile(pol, []string{"codemeter", "flexlm"})
		if err != nil {
			return
		}
		e.Decide(Request{User: "alice", Service: "codemeter", Time: time.Unix(0, 0)})
		e.Explain(Request{User: "alice", Service: "codemeter", Time: time.Unix(0, 0)})
	})
}

var (
	fzUsers   = []string{"alice", "bob", "carol", "dan", "eve"}
	fzGroups  = []string{"a", "b", "c"}
	fzHours   = []string{"", "Mon-Fri 08:00-18:00", "daily 22:00-06:00", "Sat,Sun 00:00-24:00", "Wed 12:00-12:30"}
	fzSvcs    = []string{"codemeter", "flexlm"}
	fzSources = []string{"", "10.44.0.0/25", "10.44.0.128/25"}
)

// genPolicy turns bytes into a policy: 6 bytes a rule.
func genPolicy(data []byte) string {
	var b strings.Builder
	b.WriteString("timezone: Europe/Berlin\ngroups:\n  a: [alice, bob]\n  b: [carol, group:a]\n  c: [dan]\nrules:\n")
	for i := 0; i+6 <= len(data) && i < 6*40; i += 6 {
		d := data[i : i+6]
		action := "allow"
		if d[0]&1 == 1 {
			action = "deny"
		}
		var who string
		switch d[1] % 4 {
		case 0:
			who = "'*'"
		case 1:
			who = "user:" + fzUsers[int(d[1]/4)%len(fzUsers)]
		case 2:
			who = "group:" + fzGroups[int(d[1]/4)%len(fzGroups)]
		case 3:
			who = "device:" + fzUsers[int(d[1]/4)%len(fzUsers)] + "/pc"
		}
		fmt.Fprintf(&b, "  - action: %s\n    who: [%s]\n", action, who)
		switch d[2] % 3 {
		case 1:
			b.WriteString("    services: [codemeter]\n")
		case 2:
			b.WriteString("    services: [flexlm]\n")
		}
		if h := fzHours[int(d[3])%len(fzHours)]; h != "" {
			fmt.Fprintf(&b, "    hours: [%q]\n", h)
		}
		if s := fzSources[int(d[4])%len(fzSources)]; s != "" {
			fmt.Fprintf(&b, "    source: [%s]\n", s)
		}
		if action == "allow" && d[5]%3 == 1 {
			fmt.Fprintf(&b, "    max_sessions_per_user: %d\n", d[5]%4+1)
		}
		if d[5]%5 == 2 {
			b.WriteString("    until: 2026-06-15\n")
		}
		if action == "allow" && d[4]/3%4 == 1 {
			b.WriteString("    signin: 12h\n")
		}
	}
	return b.String()
}

// reference decides by walking every rule in order, the plain way.
func reference(e *Engine, req Request) (allow bool, rule int, kind Kind) {
	if req.UserDisabled {
		return false, -1, KindDisabled
	}
	si, ok := e.svcIdx[req.Service]
	if !ok {
		return false, -1, KindUnknownService
	}
	near, nearKind, signNear := -1, KindDefault, -1
	for i := range e.rules {
		r := &e.rules[i]
		if !e.ruleWho(r, req.User, req.Device) || r.svc != nil && !r.svc[si] ||
			req.Source.IsValid() && !r.matchesSource(req.Source) {
			continue
		}
		if !r.matchesTime(req.Time, e.loc) {
			if r.allow && near < 0 {
				near, nearKind = i, KindOutsideWindow
				if !r.matchesDates(req.Time) {
					nearKind = KindExpired
				}
			}
			continue
		}
		if r.signin > 0 && (req.LastSignIn.IsZero() || req.Time.Sub(req.LastSignIn) >= r.signin) {
			if signNear < 0 {
				signNear = i
			}
			continue
		}
		if !r.allow {
			return false, i, KindRule
		}
		if req.Counts != nil && r.maxUser > 0 && req.Counts.UserSessions(req.User) >= r.maxUser {
			return false, i, KindCap
		}
		return true, i, KindRule
	}
	switch {
	case e.services[si].defaultAllow:
		return true, -1, KindDefault
	case signNear >= 0:
		return false, -1, KindSignIn
	case near >= 0:
		return false, -1, nearKind
	}
	return false, -1, KindDefault
}

// genRequest turns 8 bytes into a request at or after base.
func genRequest(d []byte, base time.Time) Request {
	req := Request{
		User:    fzUsers[int(d[0])%len(fzUsers)],
		Device:  []string{"pc", "tablet"}[d[1]%2],
		Service: fzSvcs[int(d[2])%len(fzSvcs)],
		Time:    base.Add(time.Duration(int(d[3])|int(d[4])<<8) * 7 * time.Minute),
	}
	if d[5]%2 == 1 {
		req.Source = netip.AddrFrom4([4]byte{10, 44, 0, d[6]})
	}
	if d[7]%3 == 1 {
		req.Counts = &fixedCounts{int(d[7] % 5)}
	}
	switch d[1] / 2 % 4 {
	case 1:
		req.LastSignIn = req.Time.Add(-time.Duration(d[6]) * 7 * time.Minute) // up to ~30h ago
	case 2:
		req.UserDisabled = d[6]%8 == 0
	}
	return req
}

// FuzzDecide: the indexed Decide agrees with the plain walk, so a
// compiled policy never allows what its rules deny.
func FuzzDecide(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0}, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{1, 5, 1, 1, 0, 0, 0, 8, 0, 2, 1, 1, 0, 1, 2, 3, 4, 5}, []byte{200, 100, 50, 25, 12, 6, 3, 1})
	f.Fuzz(func(t *testing.T, polBytes, reqBytes []byte) {
		src := genPolicy(polBytes)
		pol, err := Parse("gen.yaml", []byte(src))
		if err != nil {
			t.Fatalf("generated policy does not parse: %v\n%s", err, src)
		}
		e, _, err := Compile(pol, fzSvcs)
		if err != nil {
			t.Fatalf("generated policy does not compile: %v\n%s", err, src)
		}
		base := time.Date(2026, 6, 1, 0, 0, 0, 0, e.loc)
		for i := 0; i+8 <= len(reqBytes); i += 8 {
			req := genRequest(reqBytes[i:i+8], base)
			got := e.Decide(req)
			wantAllow, wantRule, wantKind := reference(e, req)
			if got.Allow != wantAllow || got.Rule != wantRule || got.Kind != wantKind {
				t.Fatalf("Decide(%+v) = allow %v rule %d kind %s (%s); plain walk says allow %v rule %d kind %s\n%s",
					req, got.Allow, got.Rule, got.Kind, got.Reason, wantAllow, wantRule, wantKind, src)
			}
			if x := e.Explain(req); x.Decision != got {
				t.Fatalf("Explain(%+v) = %+v; Decide says %+v\n%s\n%s", req, x.Decision, got, x.Text, src)
			}
		}
	})
}
