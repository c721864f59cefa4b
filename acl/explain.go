package acl

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// ParseTime reads a time as policy tests and `policy explain --at` write
// it: RFC 3339, or "2026-12-01T20:00" / "2026-12-01 20:00" in the office
// time zone, or a date (midnight).
func (e *Engine) ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, e.loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (2026-12-01T20:00 in %s, or RFC 3339)", s, e.loc)
}

// MapCounts is a Counts from fixed numbers, for tests and explain.
// Keys: "device" (any device), "user", "rule:N", "group:NAME", "service:NAME",
// or a bare "rule"/"service" meaning the one in question.
type MapCounts map[string]int

func (m MapCounts) DeviceSessions(user, device string) int { return m["device"] }
func (m MapCounts) UserSessions(user string) int           { return m["user"] }
func (m MapCounts) RuleSessions(i int) int {
	if n, ok := m[fmt.Sprintf("rule:%d", i)]; ok {
		return n
	}
	return m["rule"]
}
func (m MapCounts) GroupSessions(g string) int { return m["group:"+g] }
func (m MapCounts) ServiceSessions(s string) int {
	if n, ok := m["service:"+s]; ok {
		return n
	}
	return m["service"]
}

func (e *Engine) runTests() error {
	for i, t := range e.pol.Tests {
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%w: %s:%d: test %d (user %s, service %s, at %s): %s", ErrPolicy, e.pol.File, t.Line, i,
				t.User, t.Service, t.At, fmt.Sprintf(format, args...))
		}
		if t.User == "" || t.Service == "" || t.Expect == "" {
			return fail("a test needs user, service and expect")
		}
		if t.Expect != "allow" && t.Expect != "deny" {
			return fail("expect %q is not allow or deny", t.Expect)
		}
		if _, ok := e.svcIdx[t.Service]; !ok {
			return fail("unknown service %q", t.Service)
		}
		req := Request{User: t.User, Device: t.Device, Service: t.Service, Time: time.Now()}
		if t.At != "" {
			at, err := e.ParseTime(t.At)
			if err != nil {
				return fail("%v", err)
			}
			req.Time = at
		} else {
			return fail("a test needs at (a time): policies with hours and dates give different answers at different times")
		}
		if t.SignedIn != "" {
			si, err := e.ParseTime(t.SignedIn)
			if err != nil {
				return fail("signed_in: %v", err)
			}
			req.LastSignIn = si
		}
		if t.Source != "" {
			a, err := netip.ParseAddr(t.Source)
			if err != nil {
				return fail("source %q is not an address", t.Source)
			}
			req.Source = a
		}
		if t.Sessions != nil {
			req.Counts = MapCounts(t.Sessions)
		}
		d := e.Decide(req)
		got := "deny"
		if d.Allow {
			got = "allow"
		}
		if got != t.Expect {
			return fail("expected %s, got %s: %s", t.Expect, got, d.Reason)
		}
		if t.Rule != nil && d.Rule != *t.Rule {
			return fail("expected the decision from rule %d, got %s: %s", *t.Rule, e.RuleLabel(d.Rule), d.Reason)
		}
	}
	return nil
}

// Explanation is Explain's answer: the decision, which is always the one
// Decide gives for the same Request, and how it is reached in words.
type Explanation struct {
	Decision
	// Text has the request, one line per rule, the caps checked with
	// their counts, and the decision.
	Text string
}

func (x Explanation) String() string { return x.Text }

// Explain walks every rule in order, the plain way (Decide uses indexes),
// and says why each matched or not, which caps were checked against
// which counts, and the decision. It takes the same Request as Decide and
// reaches the same decision (a property test holds it to that): give it
// the live counts, the user's disabled flag and last sign-in, or it
// explains a different question.
func (e *Engine) Explain(req Request) Explanation {
	var b strings.Builder
	d := e.explain(&b, req)
	verdict := "DENY"
	if d.Allow {
		verdict = "ALLOW"
	}
	fmt.Fprintf(&b, "decision: %s (%s)\n", verdict, d.Reason)
	return Explanation{Decision: d, Text: b.String()}
}

func (e *Engine) explain(b *strings.Builder, req Request) Decision {
	lt := req.Time.In(e.loc)
	fmt.Fprintf(b, "request: user %s", req.User)
	if gs := e.groupNames[req.User]; len(gs) > 0 {
		fmt.Fprintf(b, " (groups: %s)", strings.Join(gs, ", "))
	} else {
		b.WriteString(" (in no group)")
	}
	if req.Device != "" {
		fmt.Fprintf(b, ", device %s", req.Device)
	}
	fmt.Fprintf(b, ", service %s, at %s (%s)", req.Service, lt.Format("2006-01-02 15:04 MST"), lt.Weekday())
	if req.Source.IsValid() {
		fmt.Fprintf(b, ", from %s", req.Source)
	}
	if req.LastSignIn.IsZero() {
		b.WriteString(", never signed in")
	} else {
		fmt.Fprintf(b, ", signed in %s", req.LastSignIn.In(e.loc).Format("2006-01-02 15:04 MST"))
	}
	b.WriteString("\n")
	if req.UserDisabled {
		b.WriteString("  user is disabled: no rule is consulted\n")
		return Decision{Rule: -1, Kind: KindDisabled, Reason: disabledReason}
	}
	si, ok := e.svcIdx[req.Service]
	if !ok {
		fmt.Fprintf(b, "  service %q is not defined\n", req.Service)
		return Decision{Rule: -1, Kind: KindUnknownService, Reason: errUnknownService}
	}
	near, signNear := -1, -1
	nearKind := KindOutsideWindow
	for i := range e.rules {
		r := &e.rules[i]
		fmt.Fprintf(b, "  %s, line %d, %s %s: ", r.label, r.line, map[bool]string{true: "allow", false: "deny"}[r.allow], strings.Join(r.who, " "))
		if !e.ruleWho(r, req.User, req.Device) {
			b.WriteString("skipped: who does not match\n")
			continue
		}
		if r.svc != nil && !r.svc[si] {
			fmt.Fprintf(b, "skipped: only for %s\n", strings.Join(r.svcNames, ", "))
			continue
		}
		if req.Source.IsValid() && !r.matchesSource(req.Source) {
			b.WriteString("skipped: source not in its subnets\n")
			continue
		}
		var why []string
		if !r.from.IsZero() && req.Time.Before(r.from) {
			why = append(why, "before from "+r.fromS)
		}
		if !r.until.IsZero() && !req.Time.Before(r.until) {
			why = append(why, "after until "+r.untilS)
		}
		if len(why) > 0 {
			if r.allow && near < 0 {
				near, nearKind = i, KindExpired
			}
			fmt.Fprintf(b, "skipped: %s\n", strings.Join(why, "; "))
			continue
		}
		if !r.matchesHours(req.Time, e.loc) {
			if r.allow && near < 0 {
				near, nearKind = i, KindOutsideWindow
			}
			var ws []string
			for _, w := range r.windows {
				ws = append(ws, w.text)
			}
			fmt.Fprintf(b, "skipped: outside hours %s\n", strings.Join(ws, ", "))
			continue
		}
		if r.signin > 0 && (req.LastSignIn.IsZero() || req.Time.Sub(req.LastSignIn) >= r.signin) {
			if signNear < 0 {
				signNear = i
			}
			fmt.Fprintf(b, "skipped: needs a sign-in within %s\n", r.signinS)
			continue
		}
		b.WriteString("MATCHES\n")
		if !r.allow {
			return Decision{Rule: i, Kind: KindRule, Reason: r.reason}
		}
		return e.explainCaps(b, r, si, req)
	}
	d := e.noMatch(si, near, signNear, nearKind)
	if d.Kind == KindDefault {
		fmt.Fprintf(b, "  no rule matched: service %s's default\n", req.Service)
	}
	return d
}

// explainCaps checks the caps of the matching allow rule r, in Decide's
// order, writing each with its count; the first full one denies.
func (e *Engine) explainCaps(b *strings.Builder, r *rule, si int, req Request) Decision {
	c := req.Counts
	if c == nil {
		b.WriteString("  caps: not checked (no session counts given)\n")
		return Decision{Allow: true, Rule: r.idx, Kind: KindRule, Reason: r.reason}
	}
	type check struct {
		what     string
		have, of int
		reason   string
	}
	var checks []check
	if r.maxDev > 0 {
		checks = append(checks, check{"sessions of this device", c.DeviceSessions(req.User, req.Device), r.maxDev, r.capDevReason})
	}
	if r.maxUser > 0 {
		checks = append(checks, check{"sessions of this user", c.UserSessions(req.User), r.maxUser, r.capUserReason})
	}
	if r.maxPool > 0 {
		checks = append(checks, check{"sessions admitted by " + r.label, c.RuleSessions(r.idx), r.maxPool, r.capPoolRsn})
	}
	for _, name := range e.groupNames[req.User] {
		if g := &e.groups[e.groupIdx[name]]; g.max > 0 {
			checks = append(checks, check{"group " + name + " pool", c.GroupSessions(name), g.max, g.capReason})
		}
	}
	if s := &e.services[si]; s.max > 0 {
		checks = append(checks, check{"service " + s.name + " pool", c.ServiceSessions(s.name), s.max, s.capReason})
	}
	if len(checks) == 0 {
		b.WriteString("  caps: none apply\n")
	}
	for _, k := range checks {
		if k.have >= k.of {
			fmt.Fprintf(b, "  cap: %s: %d of %d: FULL\n", k.what, k.have, k.of)
			return Decision{Rule: r.idx, Kind: KindCap, Reason: k.reason}
		}
		fmt.Fprintf(b, "  cap: %s: %d of %d: ok\n", k.what, k.have, k.of)
	}
	return Decision{Allow: true, Rule: r.idx, Kind: KindRule, Reason: r.reason}
}

func (e *Engine) ruleWho(r *rule, user, device string) bool {
	if r.any || r.users[user] {
		return true
	}
	for _, g := range r.groups {
		for _, ug := range e.userGroups[user] {
			if g == ug {
				return true
			}
		}
	}
	for _, d := range r.devices {
		if d.user == user && d.device == device {
			return true
		}
	}
	return false
}

// RuleInfo is a rule as the API and console show it.
type RuleInfo struct {
	Index    int      `json:"index"`
	Name     string   `json:"name,omitempty"`
	Line     int      `json:"line"`
	Action   string   `json:"action"`
	Who      []string `json:"who"`
	Services []string `json:"services,omitempty"`
	Source   []string `json:"source,omitempty"`
	Hours    []string `json:"hours,omitempty"`
	From     string   `json:"from,omitempty"`
	Until    string   `json:"until,omitempty"`
	Caps     string   `json:"caps,omitempty"`
}

// Rules describes the rules in order.
func (e *Engine) Rules() []RuleInfo {
	out := make([]RuleInfo, len(e.rules))
	for i, spec := range e.pol.Rules {
		var caps []string
		if spec.MaxSessionsPerDevice > 0 {
			caps = append(caps, fmt.Sprintf("%d per device", spec.MaxSessionsPerDevice))
		}
		if spec.MaxSessionsPerUser > 0 {
			caps = append(caps, fmt.Sprintf("%d per user", spec.MaxSessionsPerUser))
		}
		if spec.MaxSessions > 0 {
			caps = append(caps, fmt.Sprintf("%d in all", spec.MaxSessions))
		}
		out[i] = RuleInfo{Index: i, Name: spec.Name, Line: spec.Line, Action: spec.Action, Who: spec.Who, Services: spec.Services,
			Source: spec.Source, Hours: spec.Hours, From: spec.From, Until: spec.Until, Caps: strings.Join(caps, ", ")}
	}
	return out
}
