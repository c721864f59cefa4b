package session

import (
	"context"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licgate/licgate/acl"
)

// Identity is who stands behind a tunnel address. WireGuard's cryptokey
// routing proves a packet from Address was sent by the holder of
// PublicKey's private key.
type Identity struct {
	DeviceID     int64
	Device       string // device name, unique per user
	User         string
	UserDisabled bool
	PublicKey    string
	Address      netip.Addr
	// Expires is when the device (or its user, whichever is first) stops
	// working; nil for never.
	Expires *time.Time
}

// End reasons recorded for a session.
const (
	EndClientClosed = "client closed"
	EndServerClosed = "server closed"
	EndRevoked      = "revoked"
	EndRekeyed      = "device rekeyed"
	EndAdmin        = "cut by an admin"
	EndDisabled     = "user disabled"
	EndPolicy       = "policy"
	EndWindow       = "time window closed"
	EndExpired      = "access expired"
	EndVanished     = "peer vanished"
	EndIdle         = "idle"
	EndShutdown     = "shutdown"
	EndSignIn       = "sign-in window ran out"
	EndHalfClosed   = "one side closed, the other stayed silent"
	EndError        = "error"
)

// Session is one proxied TCP connection or UDP mapping.
type Session struct {
	ID       uint64
	Service  string
	Proto    string // tcp or udp
	DeviceID int64
	Device   string
	User     string
	Client   netip.AddrPort
	Start    time.Time
	// Rule is the index of the rule that admitted the session in the
	// engine in force; Reason the decision's words. Guarded by the table lock.
	Rule   int
	Reason string
	// CountUDP makes a UDP session count against caps (UDP-only services,
	// where a mapping holds the license). TCP sessions count unless NoSeat.
	CountUDP bool
	// NoSeat: the session came in on a port whose connections hold no
	// seats (FlexNet's lmgrd, RLM's rlm port, a manager's web
	// administration): the policy decides it, caps neither check nor
	// count it. Port is the gateway port it came in on.
	NoSeat bool
	Port   int
	// LastUp is when the device last sent bytes on the session (unix
	// nanoseconds; its start until then): the reconnect rule's silence.
	LastUp atomic.Int64
	// ClusterID is the session's row in the cluster's shared session
	// table (cluster mode, capped sessions; 0 otherwise): it counts
	// against caps on every gateway until released. Set by admission
	// before the session enters the table (OnStart sees it); released
	// by Remove before the session leaves it.
	ClusterID int64

	Up, Down atomic.Int64 // bytes client->server, server->client
	Conns    []net.Conn   // closed to cut the session; set before admission
	cutOnce  sync.Once
	reason   atomic.Pointer[string]

	counted    bool      // counted in the table's counters (table lock)
	groups     []string  // the user's groups when counted
	GraceUntil time.Time // set when its window closed and a grace runs (enforcement loop only)
}

// Cut ends the session for reason: closing both conns makes the license
// server see the connection close at once, so it frees the seat.
// The upstream side (last in Conns) closes first: the license server
// frees the seat before the client can come back for another.
func (s *Session) Cut(reason string) {
	s.cutOnce.Do(func() {
		s.reason.Store(&reason)
		for i := len(s.Conns) - 1; i >= 0; i-- {
			s.Conns[i].Close()
		}
	})
}

// Groups are the user's groups the session counts against (set at
// admission and re-evaluation). Read it under the table lock (in a
// Decider or Reevaluate's function).
func (s *Session) Groups() []string { return s.groups }

// EndReason returns the cut reason, or def if nobody cut the session.
func (s *Session) EndReason(def string) string {
	if r := s.reason.Load(); r != nil {
		return *r
	}
	return def
}

// SessionInfo is a snapshot of a session, as the API and CLI show it.
type SessionInfo struct {
	ID        uint64    `json:"id"`
	Service   string    `json:"service"`
	Proto     string    `json:"proto"`
	User      string    `json:"user"`
	Device    string    `json:"device"`
	Client    string    `json:"client"`
	Start     time.Time `json:"start"`
	Rule      int       `json:"rule"`
	BytesUp   int64     `json:"bytes_up"`
	BytesDown int64     `json:"bytes_down"`
}

type devKey struct{ user, device string }

// counters are the session counts caps are checked against. They change
// only under the table lock, together with admission.
type counters struct {
	device  map[devKey]int
	user    map[string]int
	rule    map[int]int
	group   map[string]int
	service map[string]int
}

func newCounters() counters {
	return counters{device: map[devKey]int{}, user: map[string]int{}, rule: map[int]int{},
		group: map[string]int{}, service: map[string]int{}}
}

func (c *counters) DeviceSessions(u, d string) int { return c.device[devKey{u, d}] }
func (c *counters) UserSessions(u string) int      { return c.user[u] }
func (c *counters) RuleSessions(i int) int         { return c.rule[i] }
func (c *counters) GroupSessions(g string) int     { return c.group[g] }
func (c *counters) ServiceSessions(s string) int   { return c.service[s] }
func (c *counters) add(s *Session, n int) {
	c.device[devKey{s.User, s.Device}] += n
	c.user[s.User] += n
	if s.Rule >= 0 {
		c.rule[s.Rule] += n
	}
	for _, g := range s.groups {
		c.group[g] += n
	}
	c.service[s.Service] += n
}

// SessionTable holds live sessions. Admission, counting and cutting share
// one lock, so caps hold under concurrent connects, and a session admitted
// concurrently with a revoke is either refused or cut: never left running.
type SessionTable struct {
	mu     sync.Mutex
	next   uint64
	m      map[uint64]*Session
	counts counters
	// removed is closed (and cleared) at the next removal: WaitGone's wake-up.
	removed chan struct{}
	// OnEnd, if set, is called once per admitted session after it ended.
	OnEnd func(s *Session, reason string)
	// OnStart, if set, is called once per admitted session, under the
	// table lock: it must not block or call back into the table.
	OnStart func(s *Session)
	// Shared, if set, is the session table other gateways share (cluster
	// mode): capped sessions are admitted against its counts and
	// released from it. Set it before the first admission.
	Shared Shared
	// Replace, if set, names the live sessions a new seat session
	// replaces (the reconnect rule: licmgr.ReconnectRule.Supersede). It
	// is called under the table lock; see replaceLocked. Set it before
	// the first admission.
	Replace Replacer

	evals uint64 // Reevaluate runs so far (table lock): see admitShared
}

// Shared is a session table other gateways share (cluster mode). The
// table calls it without holding its lock, because its calls wait on a
// database: a database that does not answer must not stall the table
// (connects, the API, health, cuts).
type Shared interface {
	// Admit decides s with decide, called once with the live counts of
	// every gateway, and, if decide allows, records s and returns
	// decide's admission with its shared row (ClusterID > 0). decide's
	// error is returned as it is; any other error refuses s (admission
	// fails closed).
	Admit(s *Session, decide func(acl.Counts) (Admission, error)) (Admission, error)
	// Release frees s's shared row (s.ClusterID). When it returns, the
	// row no longer counts anywhere, or the database could not be
	// reached and the row stops counting when its lease runs out.
	Release(s *Session)
}

// NewSessionTable returns an empty table.
func NewSessionTable() *SessionTable {
	return &SessionTable{m: map[uint64]*Session{}, counts: newCounters()}
}

// SetBase makes the IDs of sessions admitted from now on follow base, so
// that IDs stay unique across restarts (the gateway passes a persisted
// epoch << 32). Call it before the first admission.
func (t *SessionTable) SetBase(base uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.next < base {
		t.next = base
	}
}

// Decider is what admission asks, under the table lock, with the live
// counts: the Admission (the rule that admits s or -1, its reason, and
// the user's groups for group pools), or an error to refuse. With a
// Shared table it is asked twice for a capped session: with the shared
// counts outside the table lock, then with nil counts (caps unchecked)
// under it.
type Decider func(s *Session, counts acl.Counts) (Admission, error)

// capped reports whether s counts against session caps. Caps count TCP
// sessions, which are what hold a license; UDP mappings (server search)
// are allowed or denied by the rules but neither capped nor counted,
// unless CountUDP says the service speaks only UDP. Sessions on a port
// that holds no seats (NoSeat) never count.
func capped(s *Session) bool { return !s.NoSeat && (s.Proto == "tcp" || s.CountUDP) }

// countsFor is the Counts a decision about s sees: nil when s is not capped.
func (t *SessionTable) countsFor(s *Session) acl.Counts {
	if !capped(s) {
		return nil
	}
	return &t.counts
}

// Admit adds s if decide, run under the table lock, allows it. With a
// Shared table, a capped session is decided against the shared counts
// instead (see admitShared).
func (t *SessionTable) Admit(s *Session, decide Decider) error {
	if t.Shared != nil && capped(s) {
		return t.admitShared(s, decide)
	}
	t.mu.Lock()
	replaced := t.replaceLocked(s)
	adm, err := decide(s, t.countsFor(s))
	if err != nil {
		t.restoreLocked(replaced)
		t.mu.Unlock()
		return err
	}
	t.insertLocked(s, adm)
	t.mu.Unlock()
	cutReplaced(replaced)
	return nil
}

// admitShared admits a capped session through the Shared table, whose
// lock (not this table's) keeps caps across gateways. The shared call
// runs without the table lock; then, under it, decide runs again
// without counts (caps were counted by the shared call), so a revoke or
// disable published meanwhile, whose cut did not see s yet, refuses s
// here. A Reevaluate that ran in between did not see s either (a
// lowered cap): the admission is made again, at most twice, against the
// counts it left.
//
// The reconnect rule's replaced sessions are cut once s is admitted; the
// shared table counts them until their rows are released.
func (t *SessionTable) admitShared(s *Session, decide Decider) error {
	t.mu.Lock()
	replaced := t.replaceLocked(s)
	t.mu.Unlock()
	err := t.admitSharedOnce(s, decide)
	t.mu.Lock()
	if err != nil {
		t.restoreLocked(replaced)
	}
	t.mu.Unlock()
	if err == nil {
		cutReplaced(replaced)
	}
	return err
}

func (t *SessionTable) admitSharedOnce(s *Session, decide Decider) error {
	for attempt := 0; ; attempt++ {
		t.mu.Lock()
		evals := t.evals
		t.mu.Unlock()
		adm, err := t.Shared.Admit(s, func(counts acl.Counts) (Admission, error) { return decide(s, counts) })
		if err != nil {
			return err
		}
		s.ClusterID = adm.ClusterID
		t.mu.Lock()
		if t.evals != evals && attempt < 2 {
			t.mu.Unlock()
			t.Shared.Release(s)
			s.ClusterID = 0
			continue
		}
		if _, err := decide(s, nil); err != nil {
			t.mu.Unlock()
			t.Shared.Release(s)
			s.ClusterID = 0
			return err
		}
		t.insertLocked(s, adm)
		t.mu.Unlock()
		return nil
	}
}

// insertLocked adds an admitted s to the table (table lock held).
func (t *SessionTable) insertLocked(s *Session, adm Admission) {
	t.next++
	s.ID = t.next
	s.Rule, s.Reason, s.groups = adm.Rule, adm.Reason, adm.Groups
	if capped(s) {
		s.counted = true
		t.counts.add(s, 1)
	}
	t.m[s.ID] = s
	if t.OnStart != nil {
		t.OnStart(s) // under the lock: Rule and Reason may change on re-evaluation
	}
}

// Remove takes s out of the table (uncounting it) and calls OnEnd once.
// A session with a shared row is released first, while it is still in
// the table: whoever sees it gone (List, Len, WaitGone) finds its seat
// free on every gateway, and a device that reconnects at once is not
// refused by a cap nobody holds.
func (t *SessionTable) Remove(s *Session, reason string) {
	t.mu.Lock()
	_, ok := t.m[s.ID]
	release := ok && s.ClusterID != 0 && t.Shared != nil
	t.mu.Unlock()
	if release {
		t.Shared.Release(s)
	}
	t.mu.Lock()
	_, ok = t.m[s.ID]
	delete(t.m, s.ID)
	if ok && s.counted {
		t.counts.add(s, -1)
		s.counted = false
	}
	if ok && t.removed != nil {
		close(t.removed) // wake WaitGone
		t.removed = nil
	}
	t.mu.Unlock()
	if ok && t.OnEnd != nil {
		t.OnEnd(s, reason)
	}
}

// Cut ends every session for which match is true and returns how many.
func (t *SessionTable) Cut(match func(*Session) bool, reason string) int {
	t.mu.Lock()
	var hit []*Session
	for _, s := range t.m {
		if match(s) {
			hit = append(hit, s)
		}
	}
	t.mu.Unlock()
	for _, s := range hit {
		s.Cut(reason)
	}
	return len(hit)
}

// Verdict is what Reevaluate's function says of a live session.
type Verdict struct {
	Keep   bool
	Rule   int
	Reason string // the decision's reason (kept or not)
	Groups []string
	End    string // the end reason if not kept
}

// Reevaluate re-decides every live session, oldest first, against fresh
// counts (so lowered caps drop the newest sessions), and cuts those no
// longer allowed. It returns the sessions cut, with the verdict's reason.
func (t *SessionTable) Reevaluate(decide func(s *Session, counts acl.Counts) Verdict) map[*Session]Verdict {
	t.mu.Lock()
	t.evals++
	all := make([]*Session, 0, len(t.m))
	for _, s := range t.m {
		all = append(all, s)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	t.counts = newCounters()
	cut := map[*Session]Verdict{}
	for _, s := range all {
		s.counted = false
		if s.reason.Load() != nil { // already being cut
			continue
		}
		v := decide(s, t.countsFor(s))
		if !v.Keep {
			cut[s] = v
			continue
		}
		s.Rule, s.Reason, s.groups = v.Rule, v.Reason, v.Groups
		if capped(s) {
			s.counted = true
			t.counts.add(s, 1)
		}
	}
	t.mu.Unlock()
	for s, v := range cut {
		s.Cut(v.End)
	}
	return cut
}

// WaitGone waits until no session matches, or ctx ends (false). It
// wakes on every removal instead of polling.
func (t *SessionTable) WaitGone(ctx context.Context, match func(*Session) bool) bool {
	for {
		t.mu.Lock()
		n := 0
		for _, s := range t.m {
			if match(s) {
				n++
			}
		}
		if t.removed == nil {
			t.removed = make(chan struct{})
		}
		ch := t.removed
		t.mu.Unlock()
		if n == 0 {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// IsCut reports whether s has been cut (it may still be in the table
// while its goroutines finish).
func IsCut(s *Session) bool { return s.reason.Load() != nil }

// WithCounts runs fn under the table lock with the counts a new session
// like s would be admitted against (nil when s is not capped): what
// admission would see, for `policy explain`.
func (t *SessionTable) WithCounts(s *Session, fn func(acl.Counts)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fn(t.countsFor(s))
}

// Len is the number of live sessions.
func (t *SessionTable) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// DevicesWithSessions returns the device IDs holding sessions.
func (t *SessionTable) DevicesWithSessions() map[int64]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[int64]int{}
	for _, s := range t.m {
		out[s.DeviceID]++
	}
	return out
}

// List returns snapshots of the live sessions, oldest first.
func (t *SessionTable) List() []SessionInfo {
	t.mu.Lock()
	out := make([]SessionInfo, 0, len(t.m))
	for _, s := range t.m {
		out = append(out, SessionInfo{ID: s.ID, Service: s.Service, Proto: s.Proto, User: s.User, Device: s.Device,
			Client: s.Client.String(), Start: s.Start, Rule: s.Rule, BytesUp: s.Up.Load(), BytesDown: s.Down.Load()})
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Admission is a positive access decision.
type Admission struct {
	Rule   int    // deciding rule index, -1 for a default
	Reason string // the decision in words
	Groups []string
	// ClusterID is the session's row in the shared session table, as
	// Shared.Admit returns it (0 on a single gateway, and for sessions
	// that are not capped).
	ClusterID int64
}

// DenyError is a refusal by policy or state.
type DenyError struct {
	Rule   int
	Kind   string // a short class for metrics: see DenyKind*
	Reason string
}

// Denial classes (the "reason" label of licgate_denials_total).
const (
	DenyKindUnknownDevice = "unknown device"
	DenyKindDisabled      = "disabled"
	DenyKindRule          = "rule"
	DenyKindDefault       = "default"
	DenyKindHours         = "hours"
	DenyKindExpired       = "expired"
	DenyKindCap           = "cap"
	DenyKindService       = "unknown service"
	DenyKindSignIn        = "signin_required"
	DenyKindAdmin         = "admin"
	DenyKindOther         = "other"
)

func (e *DenyError) Error() string { return e.Reason }

// Denial describes a refused connection, for the audit log.
type Denial struct {
	Time    time.Time
	Service string
	Proto   string
	Source  netip.AddrPort
	User    string // empty when the source is no device
	Device  string
	Rule    int
	Kind    string // DenyKind*
	Reason  string
}
