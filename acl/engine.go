package acl

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Counts gives the sessions held now, for caps. The gateway implements it
// over its session table, under the lock that admits sessions, so caps
// hold under concurrent connects.
type Counts interface {
	DeviceSessions(user, device string) int
	UserSessions(user string) int
	// RuleSessions counts sessions admitted by rule index i of this engine.
	RuleSessions(i int) int
	GroupSessions(group string) int
	ServiceSessions(service string) int
}

// Request is one access question: everything Decide and Explain need, so
// both give the same answer for the same Request.
type Request struct {
	User    string
	Device  string
	Service string
	Source  netip.Addr // the device's tunnel address; zero skips source rules' match
	Time    time.Time
	// LastSignIn is when the user last signed in at the portal; zero: never.
	// Rules with a signin window match only if Time-LastSignIn is within it.
	LastSignIn time.Time
	// UserDisabled denies every request of the user (KindDisabled),
	// whatever the rules say.
	UserDisabled bool
	Counts       Counts // nil: caps are not checked
}

// Kind classifies a decision. New kinds are appended, so values are stable.
type Kind uint8

const (
	KindRule           Kind = iota // a rule matched and decided (allow or deny)
	KindDefault                    // no rule matched: the service's default action
	KindOutsideWindow              // no rule matched, but an allow rule would have at another time of day or week
	KindExpired                    // no rule matched, but an allow rule would have between its from/until dates
	KindCap                        // a matching allow rule's cap (or a group/service pool) is full
	KindUnknownService             // the service is not in the policy
	KindDisabled                   // the user is disabled (Request.UserDisabled)
	KindSignIn                     // no rule matched, but an allow rule would have after a sign-in at the portal
)

var kindNames = [...]string{"rule", "default", "hours", "expired", "cap", "unknown service", "disabled", "signin_required"}

// String is the kind's short class for metrics and logs: rule, default,
// hours, expired, cap, unknown service, disabled, signin_required.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Grace reports whether a live session denied with this kind gets the
// window-close grace: its hours window or its sign-in window ran out, and
// the user could not have seen the cut coming to the minute. Dates
// (KindExpired), caps and rules cut at once.
func (k Kind) Grace() bool { return k == KindOutsideWindow || k == KindSignIn }

// SignInText is the explanation of a KindSignIn denial; the caller adds
// the portal's URL.
const SignInText = "sign in at the portal to unlock"

const disabledReason = "the user is disabled"

// Decision is Decide's answer. Reason is a sentence for logs and admins.
type Decision struct {
	Allow  bool
	Rule   int // index of the deciding rule; -1 for a default
	Kind   Kind
	Reason string
}

// Warning is a problem that does not stop the policy from loading.
type Warning struct {
	Line    int
	Message string
}

func (w Warning) String() string { return fmt.Sprintf("line %d: %s", w.Line, w.Message) }

type devKey struct{ user, device string }

type window struct {
	days       uint8 // bit d set: weekday d (Sunday=0)
	start, end int   // minutes since midnight; end may be 1440; start > end: overnight
	text       string
}

func (w window) contains(wd time.Weekday, m int) bool {
	if w.start < w.end {
		return w.days&(1<<wd) != 0 && m >= w.start && m < w.end
	}
	prev := (wd + 6) % 7
	return w.days&(1<<wd) != 0 && m >= w.start || w.days&(1<<prev) != 0 && m < w.end
}

type rule struct {
	idx      int
	name     string
	line     int
	allow    bool
	any      bool
	users    map[string]bool
	groups   []int
	devices  []devKey
	who      []string
	svc      []bool // by service index; nil: every service
	svcNames []string
	sources  []netip.Prefix
	windows  []window
	signin   time.Duration // > 0: matches only after a sign-in this recent (allow rules only)
	signinS  string
	from     time.Time // zero: none
	until    time.Time // exclusive instant; zero: none
	fromS    string
	untilS   string

	maxDev, maxUser, maxPool int

	label                                   string
	reason, outsideReason, expiredReason    string
	signinReason                            string
	capDevReason, capUserReason, capPoolRsn string
}

// matchesTime reports whether the rule's dates and hours contain t.
func (r *rule) matchesTime(t time.Time, loc *time.Location) bool {
	return r.matchesDates(t) && r.matchesHours(t, loc)
}

func (r *rule) matchesDates(t time.Time) bool {
	return (r.from.IsZero() || !t.Before(r.from)) && (r.until.IsZero() || t.Before(r.until))
}

func (r *rule) matchesHours(t time.Time, loc *time.Location) bool {
	if len(r.windows) == 0 {
		return true
	}
	lt := t.In(loc)
	h, m, _ := lt.Clock()
	wd := lt.Weekday()
	for i := range r.windows {
		if r.windows[i].contains(wd, h*60+m) {
			return true
		}
	}
	return false
}

// signedIn reports whether the rule's sign-in condition holds: none, or
// a sign-in less than r.signin before t.
func (r *rule) signedIn(t, last time.Time) bool {
	return r.signin == 0 || !last.IsZero() && t.Sub(last) < r.signin
}

func (r *rule) matchesSource(a netip.Addr) bool {
	if len(r.sources) == 0 {
		return true
	}
	for _, p := range r.sources {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

type service struct {
	name          string
	defaultAllow  bool
	max           int
	defaultReason string
	capReason     string
}

type group struct {
	name      string
	max       int
	capReason string
}

// Engine is a compiled policy. It is immutable and safe for concurrent use.
type Engine struct {
	loc        *time.Location
	svcIdx     map[string]int
	services   []service
	groups     []group
	groupIdx   map[string]int
	userGroups map[string][]int // transitive membership
	groupNames map[string][]string
	capped     map[string][]int // user -> capped groups
	rules      []rule
	byUser     map[string][]int32
	wildcard   []int32
	byDevice   map[devKey][]int32
	warnings   []Warning
	pol        *Policy
}

var (
	errUnknownService = "service is not defined in the policy"
	dateRE            = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	nameRE            = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
)

// Compile validates pol and builds its engine. services are the service
// names the gateway serves (from its config); every one gets an entry,
// and a policy naming another is an error. With services nil, the
// policy's own service list is used. The policy's tests run last; a
// failing test is an error naming it.
func Compile(pol *Policy, services []string) (*Engine, []Warning, error) {
	c := compiler{pol: pol, e: &Engine{pol: pol, svcIdx: map[string]int{}, groupIdx: map[string]int{},
		userGroups: map[string][]int{}, groupNames: map[string][]string{}, capped: map[string][]int{},
		byUser: map[string][]int32{}, byDevice: map[devKey][]int32{}}}
	if err := c.compile(services); err != nil {
		return nil, nil, err
	}
	if err := c.e.runTests(); err != nil {
		return nil, nil, err
	}
	return c.e, c.e.warnings, nil
}

type compiler struct {
	pol *Policy
	e   *Engine
}

func (c *compiler) errf(line int, format string, args ...any) error {
	return fmt.Errorf("%w: %s:%d: %s", ErrPolicy, c.pol.File, line, fmt.Sprintf(format, args...))
}

func (c *compiler) compile(known []string) error {
	e, pol := c.e, c.pol
	e.loc = time.UTC
	if pol.TimeZone != "" {
		loc, err := time.LoadLocation(pol.TimeZone)
		if err != nil {
			return c.errf(pol.Line, "timezone %q: %s", pol.TimeZone, zoneHint(pol.TimeZone))
		}
		e.loc = loc
	}
	// Services.
	names := known
	if names == nil {
		names = pol.ServiceOrder
	}
	for _, n := range names {
		e.svcIdx[n] = len(e.services)
		e.services = append(e.services, service{name: n})
	}
	for _, n := range pol.ServiceOrder {
		spec := pol.Services[n]
		i, ok := e.svcIdx[n]
		if !ok {
			return c.errf(spec.Line, "service %q is not served by this gateway (known: %s)", n, strings.Join(names, ", "))
		}
		s := &e.services[i]
		switch spec.Default {
		case "", "deny":
		case "allow":
			s.defaultAllow = true
		default:
			return c.errf(spec.Line, "service %s: default %q is not allow or deny", n, spec.Default)
		}
		s.max = spec.MaxSessions
	}
	for i := range e.services {
		s := &e.services[i]
		if s.defaultAllow {
			s.defaultReason = fmt.Sprintf("no rule matched; service %s allows by default", s.name)
		} else {
			s.defaultReason = fmt.Sprintf("no rule matched; service %s denies by default", s.name)
		}
		s.capReason = fmt.Sprintf("service %s pool is full (%d sessions)", s.name, s.max)
	}
	// Groups.
	for _, n := range pol.GroupOrder {
		if !nameRE.MatchString(n) {
			return c.errf(pol.Groups[n].Line, "group name %q: use lowercase letters, digits, '.', '_' or '-'", n)
		}
		e.groupIdx[n] = len(e.groups)
		g := pol.Groups[n]
		e.groups = append(e.groups, group{name: n, max: g.MaxSessions,
			capReason: fmt.Sprintf("group %s pool is full (%d sessions)", n, g.MaxSessions)})
	}
	if err := c.memberships(); err != nil {
		return err
	}
	// Rules.
	for i, spec := range pol.Rules {
		r, err := c.rule(i, spec)
		if err != nil {
			return err
		}
		e.rules = append(e.rules, r)
	}
	c.index()
	c.shadowing()
	return nil
}

// memberships resolves nested groups into each user's full group list,
// and rejects cycles and unknown groups.
func (c *compiler) memberships() error {
	e, pol := c.e, c.pol
	users := map[int][]string{} // group -> direct users
	nested := map[int][]int{}   // group -> direct subgroups
	for _, n := range pol.GroupOrder {
		gi := e.groupIdx[n]
		for _, m := range pol.Groups[n].Members {
			switch {
			case strings.HasPrefix(m, "group:"):
				sub, ok := e.groupIdx[m[6:]]
				if !ok {
					return c.errf(pol.Groups[n].Line, "group %s: member %q: no such group", n, m)
				}
				nested[gi] = append(nested[gi], sub)
			default:
				u := strings.TrimPrefix(m, "user:")
				if !nameRE.MatchString(u) {
					return c.errf(pol.Groups[n].Line, "group %s: member %q is not a user name (or group:NAME)", n, m)
				}
				users[gi] = append(users[gi], u)
			}
		}
	}
	// Cycle check by DFS, reporting the path.
	state := make([]int, len(e.groups)) // 0 new, 1 on stack, 2 done
	var stack []int
	var visit func(g int) error
	visit = func(g int) error {
		state[g] = 1
		stack = append(stack, g)
		for _, s := range nested[g] {
			if state[s] == 1 {
				var path []string
				for k := slices.Index(stack, s); k < len(stack); k++ {
					path = append(path, e.groups[stack[k]].name)
				}
				path = append(path, e.groups[s].name)
				return c.errf(pol.Groups[e.groups[g].name].Line, "groups form a cycle: %s", strings.Join(path, " -> "))
			}
			if state[s] == 0 {
				if err := visit(s); err != nil {
					return err
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[g] = 2
		return nil
	}
	for g := range e.groups {
		if state[g] == 0 {
			if err := visit(g); err != nil {
				return err
			}
		}
	}
	// Every group a user is in, directly or through nesting.
	var collect func(g int, into map[int]bool)
	collect = func(g int, into map[int]bool) {
		into[g] = true
		for _, s := range nested[g] {
			collect(s, into)
		}
	}
	for g := range e.groups {
		all := map[int]bool{}
		collect(g, all)
		for sub := range all {
			for _, u := range users[sub] {
				if !slices.Contains(e.userGroups[u], g) {
					e.userGroups[u] = append(e.userGroups[u], g)
				}
			}
		}
	}
	for u, gs := range e.userGroups {
		sort.Ints(gs)
		for _, g := range gs {
			e.groupNames[u] = append(e.groupNames[u], e.groups[g].name)
			if e.groups[g].max > 0 {
				e.capped[u] = append(e.capped[u], g)
			}
		}
	}
	return nil
}

var weekdays = map[string]time.Weekday{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}

// parseWindow reads "Mon-Fri 07:00-19:00", "Sat,Sun 10:00-14:00",
// "daily 22:00-06:00" (overnight) or "Mon-Fri 00:00-24:00".
func parseWindow(s string) (window, error) {
	w := window{text: s}
	f := strings.Fields(s)
	if len(f) != 2 {
		return w, fmt.Errorf("hours %q: expected DAYS HH:MM-HH:MM, like \"Mon-Fri 07:00-19:00\"", s)
	}
	daysS := strings.ToLower(f[0])
	if daysS == "daily" || daysS == "*" {
		w.days = 0x7f
	} else {
		for _, part := range strings.Split(daysS, ",") {
			a, b, isRange := strings.Cut(part, "-")
			da, ok1 := weekdays[a]
			db, ok2 := da, true
			if isRange {
				db, ok2 = weekdays[b]
			}
			if !ok1 || !ok2 {
				return w, fmt.Errorf("hours %q: %q is not a day or day range (Mon, Tue, ..., Sun; Mon-Fri; daily)", s, part)
			}
			for d := da; ; d = (d + 1) % 7 {
				w.days |= 1 << d
				if d == db {
					break
				}
			}
		}
	}
	a, b, ok := strings.Cut(f[1], "-")
	if !ok {
		return w, fmt.Errorf("hours %q: time range must be HH:MM-HH:MM", s)
	}
	var err error
	if w.start, err = parseClock(a, false); err != nil {
		return w, fmt.Errorf("hours %q: %v", s, err)
	}
	if w.end, err = parseClock(b, true); err != nil {
		return w, fmt.Errorf("hours %q: %v", s, err)
	}
	if w.start == w.end {
		return w, fmt.Errorf("hours %q: start and end are equal, the window is empty (for all day use 00:00-24:00)", s)
	}
	if w.end == 1440 && w.start == 0 {
		return w, nil
	}
	return w, nil
}

// parseSignIn reads a sign-in window: a Go duration ("12h", "90m",
// "1h30m") or whole days ("2d"), from one minute to 400 days.
func parseSignIn(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		days, err = strconv.Atoi(n)
		d = time.Duration(days) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d < time.Minute || d > 400*24*time.Hour {
		return 0, fmt.Errorf("signin %q: expected a duration from 1m to 400d, like 12h, 90m or 7d", s)
	}
	return d, nil
}

func parseClock(s string, end bool) (int, error) {
	hs, ms, ok := strings.Cut(s, ":")
	h, err1 := strconv.Atoi(hs)
	m, err2 := strconv.Atoi(ms)
	if !ok || err1 != nil || err2 != nil || len(ms) != 2 || m < 0 || m > 59 || h < 0 || h > 24 || h == 24 && (m != 0 || !end) {
		return 0, fmt.Errorf("%q is not a time of day (00:00 to 23:59, or 24:00 as an end)", s)
	}
	return h*60 + m, nil
}

func (c *compiler) date(line int, field, s string) (time.Time, error) {
	if !dateRE.MatchString(s) {
		return time.Time{}, c.errf(line, "%s %q: expected a date YYYY-MM-DD", field, s)
	}
	t, err := time.ParseInLocation(time.DateOnly, s, c.e.loc)
	if err != nil {
		return time.Time{}, c.errf(line, "%s %q: %v", field, s, err)
	}
	return t, nil
}

func (c *compiler) rule(i int, spec RuleSpec) (rule, error) {
	e := c.e
	r := rule{idx: i, name: spec.Name, line: spec.Line, maxDev: spec.MaxSessionsPerDevice, maxUser: spec.MaxSessionsPerUser,
		maxPool: spec.MaxSessions, users: map[string]bool{}, who: spec.Who, fromS: spec.From, untilS: spec.Until}
	where := fmt.Sprintf("rule %d", i)
	if spec.Name != "" {
		where += fmt.Sprintf(" (%s)", spec.Name)
	}
	switch spec.Action {
	case "allow":
		r.allow = true
	case "deny":
	case "":
		return r, c.errf(spec.Line, "%s: missing action (allow or deny)", where)
	default:
		return r, c.errf(spec.Line, "%s: action %q is not allow or deny", where, spec.Action)
	}
	if len(spec.Who) == 0 {
		return r, c.errf(spec.Line, "%s: missing who (user:NAME, group:NAME, device:USER/NAME or *)", where)
	}
	for _, w := range spec.Who {
		switch {
		case w == "*":
			r.any = true
		case strings.HasPrefix(w, "user:") && nameRE.MatchString(w[5:]):
			r.users[w[5:]] = true
		case strings.HasPrefix(w, "group:"):
			g, ok := e.groupIdx[w[6:]]
			if !ok {
				return r, c.errf(spec.Line, "%s: who %q: no such group (defined: %s)", where, w, strings.Join(c.pol.GroupOrder, ", "))
			}
			r.groups = append(r.groups, g)
		case strings.HasPrefix(w, "device:"):
			u, d, ok := strings.Cut(w[7:], "/")
			if !ok || !nameRE.MatchString(u) || !nameRE.MatchString(d) {
				return r, c.errf(spec.Line, "%s: who %q: write device:USER/DEVICE", where, w)
			}
			r.devices = append(r.devices, devKey{u, d})
		default:
			return r, c.errf(spec.Line, "%s: who %q: write user:NAME, group:NAME, device:USER/NAME or *", where, w)
		}
	}
	if len(spec.Services) > 0 {
		r.svc = make([]bool, len(e.services))
		for _, s := range spec.Services {
			si, ok := e.svcIdx[s]
			if !ok {
				known := make([]string, len(e.services))
				for k, sv := range e.services {
					known[k] = sv.name
				}
				return r, c.errf(spec.Line, "%s: unknown service %q (known: %s)", where, s, strings.Join(known, ", "))
			}
			r.svc[si] = true
		}
		r.svcNames = spec.Services
	}
	for _, s := range spec.Source {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return r, c.errf(spec.Line, "%s: source %q is not a subnet like 10.44.0.0/25", where, s)
		}
		r.sources = append(r.sources, p.Masked())
	}
	for _, h := range spec.Hours {
		w, err := parseWindow(h)
		if err != nil {
			return r, c.errf(spec.Line, "%s: %v", where, err)
		}
		r.windows = append(r.windows, w)
	}
	var err error
	if spec.From != "" {
		if r.from, err = c.date(spec.Line, where+": from", spec.From); err != nil {
			return r, err
		}
	}
	if spec.Until != "" {
		u, err := c.date(spec.Line, where+": until", spec.Until)
		if err != nil {
			return r, err
		}
		r.until = u.AddDate(0, 0, 1) // through the end of that day
		if !r.from.IsZero() && !r.until.After(r.from) {
			return r, c.errf(spec.Line, "%s: until %s is before from %s", where, spec.Until, spec.From)
		}
	}
	if spec.SignIn != "" {
		d, err := parseSignIn(spec.SignIn)
		if err != nil {
			return r, c.errf(spec.Line, "%s: %v", where, err)
		}
		if !r.allow {
			return r, c.errf(spec.Line, "%s: signin only makes sense on allow rules (it unlocks access)", where)
		}
		r.signin, r.signinS = d, spec.SignIn
	}
	if !r.allow && (r.maxDev > 0 || r.maxUser > 0 || r.maxPool > 0) {
		return r, c.errf(spec.Line, "%s: session caps only make sense on allow rules", where)
	}
	r.label = where
	verb := "denied"
	if r.allow {
		verb = "allowed"
	}
	r.reason = fmt.Sprintf("%s by %s", verb, where)
	r.outsideReason = fmt.Sprintf("outside the hours of %s", where)
	r.expiredReason = fmt.Sprintf("outside the dates of %s (from %s until %s)", where, orDash(spec.From), orDash(spec.Until))
	r.signinReason = fmt.Sprintf("%s (%s needs a sign-in within the last %s)", SignInText, where, spec.SignIn)
	r.capDevReason = fmt.Sprintf("device session cap (%d) of %s reached", r.maxDev, where)
	r.capUserReason = fmt.Sprintf("user session cap (%d) of %s reached", r.maxUser, where)
	r.capPoolRsn = fmt.Sprintf("session pool (%d) of %s is full", r.maxPool, where)
	return r, nil
}

// index builds each user's candidate rule list: rules naming the user, a
// group the user is in, or everyone, in policy order.
func (c *compiler) index() {
	e := c.e
	users := map[string]bool{}
	for u := range e.userGroups {
		users[u] = true
	}
	for i := range e.rules {
		for u := range e.rules[i].users {
			users[u] = true
		}
		if e.rules[i].any {
			e.wildcard = append(e.wildcard, int32(i))
		}
		for _, d := range e.rules[i].devices {
			e.byDevice[d] = append(e.byDevice[d], int32(i))
		}
	}
	for u := range users {
		var list []int32
		for i := range e.rules {
			r := &e.rules[i]
			if r.any || r.users[u] || intersects(r.groups, e.userGroups[u]) {
				list = append(list, int32(i))
			}
		}
		e.byUser[u] = list
	}
}

func intersects(a, b []int) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// shadowing warns about rules an earlier unconditional rule always beats.
func (c *compiler) shadowing() {
	e := c.e
	for j := range e.rules {
		for i := 0; i < j; i++ {
			a, b := &e.rules[i], &e.rules[j]
			if len(a.windows) > 0 || !a.from.IsZero() || !a.until.IsZero() || len(a.sources) > 0 {
				continue
			}
			if !c.coversWho(a, b) || !coversSvc(a, b) {
				continue
			}
			e.warnings = append(e.warnings, Warning{Line: b.line,
				Message: fmt.Sprintf("%s is shadowed by %s (line %d): it can never decide", b.label, a.label, a.line)})
			break
		}
	}
}

func (c *compiler) coversWho(a, b *rule) bool {
	if a.any {
		return true
	}
	if b.any {
		return false
	}
	for u := range b.users {
		if !a.users[u] && !intersects(a.groups, c.e.userGroups[u]) {
			return false
		}
	}
	for _, g := range b.groups {
		if !slices.Contains(a.groups, g) {
			return false
		}
	}
	for _, d := range b.devices {
		if !slices.Contains(a.devices, d) && !a.users[d.user] && !intersects(a.groups, c.e.userGroups[d.user]) {
			return false
		}
	}
	return true
}

func coversSvc(a, b *rule) bool {
	if a.svc == nil {
		return true
	}
	if b.svc == nil {
		return false
	}
	for i := range b.svc {
		if b.svc[i] && !a.svc[i] {
			return false
		}
	}
	return true
}

// Decide answers a request. It is pure and does not allocate.
//
// When no rule matches, the denial says why an allow rule did not: the
// first allow rule that fails only its sign-in window (KindSignIn: the
// user can fix that), else the first allow rule that fails only its dates
// (KindExpired) or hours (KindOutsideWindow). Deny rules are never such
// near misses: a deny rule that does not apply says nothing.
func (e *Engine) Decide(req Request) Decision {
	if req.UserDisabled {
		return Decision{Rule: -1, Kind: KindDisabled, Reason: disabledReason}
	}
	si, ok := e.svcIdx[req.Service]
	if !ok {
		return Decision{Rule: -1, Kind: KindUnknownService, Reason: errUnknownService}
	}
	cands, ok := e.byUser[req.User]
	if !ok {
		cands = e.wildcard
	}
	devs := e.byDevice[devKey{req.User, req.Device}]
	near, signNear := -1, -1
	nearKind := KindOutsideWindow
	i, j := 0, 0
	for i < len(cands) || j < len(devs) {
		var ri int32
		switch {
		case j >= len(devs) || i < len(cands) && cands[i] < devs[j]:
			ri = cands[i]
			i++
		case i >= len(cands) || devs[j] < cands[i]:
			ri = devs[j]
			j++
		default: // the same rule in both lists
			ri = cands[i]
			i++
			j++
		}
		r := &e.rules[ri]
		if r.svc != nil && !r.svc[si] {
			continue
		}
		if req.Source.IsValid() && !r.matchesSource(req.Source) {
			continue
		}
		if !r.matchesDates(req.Time) {
			if r.allow && near < 0 {
				near, nearKind = int(ri), KindExpired
			}
			continue
		}
		if !r.matchesHours(req.Time, e.loc) {
			if r.allow && near < 0 {
				near, nearKind = int(ri), KindOutsideWindow
			}
			continue
		}
		if !r.signedIn(req.Time, req.LastSignIn) {
			if signNear < 0 {
				signNear = int(ri)
			}
			continue
		}
		return e.apply(r, si, &req)
	}
	return e.noMatch(si, near, signNear, nearKind)
}

// noMatch is the decision when no rule matched, given the near misses.
func (e *Engine) noMatch(si, near, signNear int, nearKind Kind) Decision {
	s := &e.services[si]
	switch {
	case s.defaultAllow:
	case signNear >= 0:
		return Decision{Rule: -1, Kind: KindSignIn, Reason: e.rules[signNear].signinReason}
	case near >= 0 && nearKind == KindExpired:
		return Decision{Rule: -1, Kind: KindExpired, Reason: e.rules[near].expiredReason}
	case near >= 0:
		return Decision{Rule: -1, Kind: KindOutsideWindow, Reason: e.rules[near].outsideReason}
	}
	return Decision{Allow: s.defaultAllow, Rule: -1, Kind: KindDefault, Reason: s.defaultReason}
}

func (e *Engine) apply(r *rule, si int, req *Request) Decision {
	if !r.allow {
		return Decision{Rule: r.idx, Kind: KindRule, Reason: r.reason}
	}
	if c := req.Counts; c != nil {
		if r.maxDev > 0 && c.DeviceSessions(req.User, req.Device) >= r.maxDev {
			return Decision{Rule: r.idx, Kind: KindCap, Reason: r.capDevReason}
		}
		if r.maxUser > 0 && c.UserSessions(req.User) >= r.maxUser {
			return Decision{Rule: r.idx, Kind: KindCap, Reason: r.capUserReason}
		}
		if r.maxPool > 0 && c.RuleSessions(r.idx) >= r.maxPool {
			return Decision{Rule: r.idx, Kind: KindCap, Reason: r.capPoolRsn}
		}
		for _, g := range e.capped[req.User] {
			if c.GroupSessions(e.groups[g].name) >= e.groups[g].max {
				return Decision{Rule: r.idx, Kind: KindCap, Reason: e.groups[g].capReason}
			}
		}
		if s := &e.services[si]; s.max > 0 && c.ServiceSessions(s.name) >= s.max {
			return Decision{Rule: r.idx, Kind: KindCap, Reason: s.capReason}
		}
	}
	return Decision{Allow: true, Rule: r.idx, Kind: KindRule, Reason: r.reason}
}

// ServicePool is the service's session pool (services.X.max_sessions), 0 if uncapped.
func (e *Engine) ServicePool(service string) int {
	if i, ok := e.svcIdx[service]; ok {
		return e.services[i].max
	}
	return 0
}

// MembersOf lists the users in group (directly or through nesting), sorted.
func (e *Engine) MembersOf(group string) []string {
	gi, ok := e.groupIdx[group]
	if !ok {
		return nil
	}
	var out []string
	for u, gs := range e.userGroups {
		if slices.Contains(gs, gi) {
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out
}

// GroupsOf lists the groups user is in (directly or through nesting).
// The slice is shared: do not modify it.
func (e *Engine) GroupsOf(user string) []string { return e.groupNames[user] }

// Warnings are the compile warnings.
func (e *Engine) Warnings() []Warning { return e.warnings }

// Location is the office time zone.
func (e *Engine) Location() *time.Location { return e.loc }

// Policy is the policy the engine was compiled from.
func (e *Engine) Policy() *Policy { return e.pol }

// RuleLabel names rule i ("rule 2 (interns)") for logs.
func (e *Engine) RuleLabel(i int) string {
	if i < 0 || i >= len(e.rules) {
		return "default"
	}
	return e.rules[i].label
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// zoneHint says why a zone name was refused: not a name of the IANA
// database (with an example that is not the name refused), or no
// database on this machine at all.
func zoneHint(name string) string {
	example := "Europe/Berlin"
	if strings.EqualFold(name, example) {
		example = "America/New_York"
	}
	if _, err := time.LoadLocation(example); err != nil {
		return "no time-zone database on this machine (a licgate binary has one built in; this program lacks time/tzdata)"
	}
	return "unknown zone: use a name of the IANA time-zone database, like " + example + ", or UTC"
}
