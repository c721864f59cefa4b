package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/session"
)

// Member is one gateway's part in a cluster, over a running Cluster: the
// session table's shared side (session.Shared: capped sessions admitted
// against every gateway's counts), the other gateways' counts for
// explain and re-evaluation (admission.SharedCounts), the change watch,
// the policy every gateway shares, and the VIP takeover. It is given
// what it acts on (the session table, the tunnel's peers, handlers for
// changes) and never reaches into the gateway.
//
// Typical usage:
//
//	m, err := cluster.Join(ctx, cluster.MemberConfig{Config: cfg, Sessions: table})
//	table.Shared = m
//	go m.Watch(ctx, cluster.Handlers{Policy: reload, SignIn: adm.RecordSignIn, Identities: ids.ApplyRemote})
//	defer m.Close()
type Member struct {
	c        *Cluster
	sessions Cutter
	log      *slog.Logger
	stop     context.CancelFunc // stops lease renewal
}

// Cutter cuts local sessions (the session table).
type Cutter interface {
	Cut(match func(*session.Session) bool, reason string) int
}

// MemberConfig configures Join.
type MemberConfig struct {
	// Config is the cluster's; its OnLost is the member's own.
	Config
	// Sessions is the local session table: sessions whose lease ran out
	// before it could be renewed are cut from it.
	Sessions Cutter
	// Logger; if nil, discarded.
	Logger *slog.Logger
}

var _ session.Shared = (*Member)(nil)

// Cluster is the cluster the member joined (its key, its ID, tests).
func (m *Member) Cluster() *Cluster { return m.c }

// ID is this gateway's ID in the cluster.
func (m *Member) ID() string { return m.c.ID() }

// StopRenewal stops renewing this gateway's leases without releasing
// its rows: what a crash leaves behind (tests).
func (m *Member) StopRenewal() { m.stop() }

// Close leaves the cluster: this gateway's shared rows are deleted.
func (m *Member) Close() error {
	err := m.c.Close()
	m.stop()
	return err
}

// lost cuts the local sessions whose shared rows lost their lease (the
// database was out of reach longer than a lease): they no longer count
// anywhere, so keeping them would break caps.
func (m *Member) lost(ids []int64) {
	lost := make(map[int64]bool, len(ids))
	for _, id := range ids {
		lost[id] = true
	}
	n := m.sessions.Cut(func(s *session.Session) bool { return lost[s.ClusterID] }, session.EndError)
	m.log.Warn("cluster: sessions cut: their lease ran out before it could be renewed", slog.Int("sessions", n))
}

// Admit implements session.Shared: a capped session is admitted against
// the counts of every gateway, under the cluster's admission lock. The
// table calls it without its lock, and every call goes through the
// circuit breaker: a database that does not answer costs one timeout,
// then connects are refused at once (fail closed) until it answers again.
func (m *Member) Admit(s *session.Session, decide func(acl.Counts) (session.Admission, error)) (session.Admission, error) {
	var adm session.Admission
	var refused error
	cs, err := m.c.Admit(context.Background(), Session{User: s.User, Device: s.Device, Service: s.Service},
		func(cc acl.Counts) (Decision, error) {
			a, err := decide(cc)
			if err != nil {
				refused = err
				return Decision{}, err
			}
			adm = a
			return Decision{Rule: a.Rule, Groups: a.Groups}, nil
		})
	switch {
	case refused != nil:
		return session.Admission{}, refused
	case errors.Is(err, ErrUnavailable):
		return session.Admission{}, &session.DenyError{Rule: -1, Kind: session.DenyKindOther,
			Reason: "cluster: shared session table unavailable (the database did not answer lately): refused (fails closed)"}
	case err != nil:
		m.log.Error("cluster: admission failed: refused (fails closed)", slog.String("user", s.User),
			slog.String("device", s.Device), slog.String("err", err.Error()))
		return session.Admission{}, &session.DenyError{Rule: -1, Kind: session.DenyKindOther,
			Reason: "cluster: shared session table unreachable: " + err.Error()}
	}
	adm.ClusterID = cs.ID
	return adm, nil
}

// Release implements session.Shared.
func (m *Member) Release(s *session.Session) {
	if err := m.c.Release(context.Background(), s.ClusterID); err != nil {
		m.log.Warn("cluster: release failed; the row is deleted when the database answers again, or stops counting after the lease",
			slog.Uint64("session", s.ID), slog.String("err", err.Error()))
	}
}

// Counts are the live counts of the whole cluster (for policy explain;
// admission counts under the cluster lock instead).
func (m *Member) Counts(ctx context.Context) (acl.Counts, error) {
	ss, err := m.c.Sessions(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: counts: %w", err)
	}
	return countOf(ss, func(Session) bool { return true }), nil
}

// Before returns, for one re-evaluation, what adds the other gateways'
// sessions admitted before a shared session (IDs follow admission order,
// which the cluster lock serialises) to the local counts: a session is
// re-decided against the sessions admitted before it on every gateway,
// so a lowered cap cuts the cluster's newest sessions, whichever gateway
// holds them. nil when the database is unreachable (then only this
// gateway's sessions count, and the lowered cap is enforced at the next
// re-evaluation).
func (m *Member) Before(ctx context.Context) func(id int64, local acl.Counts) acl.Counts {
	ss, err := m.c.Sessions(ctx) // bounded by the circuit breaker
	if err != nil {
		m.log.Warn("cluster: re-evaluation sees only this gateway's sessions", slog.String("err", err.Error()))
		return nil
	}
	var others []Session
	for _, s := range ss {
		if s.Gateway != m.c.ID() {
			others = append(others, s)
		}
	}
	return func(id int64, local acl.Counts) acl.Counts {
		if id == 0 {
			return local
		}
		return sumCounts{local, countOf(others, func(s Session) bool { return s.ID < id })}
	}
}

// Update records that shared session id now counts against rule and
// groups (after a re-evaluation).
func (m *Member) Update(ctx context.Context, id int64, rule int, groups []string) error {
	return m.c.Update(ctx, id, Decision{Rule: rule, Groups: groups})
}

// countOf counts the sessions keep accepts.
func countOf(ss []Session, keep func(Session) bool) *Counts {
	n := newCounts()
	for _, s := range ss {
		if !keep(s) {
			continue
		}
		n.Device[[2]string{s.User, s.Device}]++
		n.User[s.User]++
		if s.Rule >= 0 {
			n.Rule[s.Rule]++
		}
		for _, gr := range s.Groups {
			n.Group[gr]++
		}
		n.Service[s.Service]++
	}
	return n
}

// sumCounts adds two Counts.
type sumCounts [2]acl.Counts

func (c sumCounts) DeviceSessions(u, d string) int {
	return c[0].DeviceSessions(u, d) + c[1].DeviceSessions(u, d)
}
func (c sumCounts) UserSessions(u string) int  { return c[0].UserSessions(u) + c[1].UserSessions(u) }
func (c sumCounts) RuleSessions(i int) int     { return c[0].RuleSessions(i) + c[1].RuleSessions(i) }
func (c sumCounts) GroupSessions(g string) int { return c[0].GroupSessions(g) + c[1].GroupSessions(g) }
func (c sumCounts) ServiceSessions(s string) int {
	return c[0].ServiceSessions(s) + c[1].ServiceSessions(s)
}

// Tell tells every gateway of a change made here (after it committed);
// a failure is logged: the others pick the change up on their next
// resync.
func (m *Member) Tell(ch Change) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.c.Notify(ctx, ch); err != nil {
		m.log.Error("cluster: the other gateways were not told of a change; they pick it up on their next resync",
			slog.String("kind", string(ch.Kind)), slog.String("err", err.Error()))
	}
}

// Handlers say what the other gateways' changes do here.
type Handlers struct {
	// Policy puts the cluster's policy in force (a reload).
	Policy func(ctx context.Context)
	// SignIn records a portal sign-in (in memory on each gateway, as on
	// a single one: a sign-in made while this gateway was down is not
	// replayed).
	SignIn func(user, device string, at time.Time)
	// Identities re-reads users and devices and cuts the sessions the
	// change took the right from.
	Identities func(ctx context.Context, ch Change)
	// Applied, if set, is told after each change was applied (tests).
	Applied func(Change)
}

// Watch applies the other gateways' changes with h until ctx ends.
func (m *Member) Watch(ctx context.Context, h Handlers) {
	first := true
	m.c.Watch(ctx, func(ch Change) {
		if ch.Origin == m.c.ID() {
			return // made here, applied already
		}
		m.log.Debug("cluster: change", slog.String("kind", string(ch.Kind)), slog.String("from", ch.Origin),
			slog.String("user", ch.User), slog.String("device", ch.Device))
		switch ch.Kind {
		case KindPolicy:
			h.Policy(ctx)
		case KindSignIn:
			h.SignIn(ch.User, ch.Device, ch.At)
		case KindResync:
			h.Identities(ctx, ch)
			if !first {
				h.Policy(ctx)
			}
			first = false
		default:
			h.Identities(ctx, ch)
		}
		if h.Applied != nil {
			h.Applied(ch)
		}
	})
}

// StartPolicy is the policy a gateway starting with own (its file's)
// puts in force: the cluster's (fromCluster), or own when the cluster
// has none yet, which own then becomes (unless it is empty: nothing to
// share; a later gateway's or reload's policy will be).
func (m *Member) StartPolicy(ctx context.Context, own acl.Source) (src acl.Source, fromCluster bool, err error) {
	src, err = m.policy(ctx, own)
	if errors.Is(err, ErrNoPolicy) {
		if len(own.Text) == 0 {
			return own, false, nil
		}
		if err := m.c.PutPolicy(ctx, own.Name, own.Text); err != nil {
			return acl.Source{}, false, err
		}
		m.log.Info("cluster: this gateway's policy is now the cluster's", slog.String("from", own.Name))
		return own, false, nil
	}
	return src, err == nil, err
}

// ReloadPolicy is the policy a reload puts in force: one made here
// (local) stores own as the cluster's; one caused by another gateway's
// change takes the cluster's (own if it has none).
func (m *Member) ReloadPolicy(ctx context.Context, own acl.Source, local bool) (src acl.Source, fromCluster bool, err error) {
	if local {
		if err := m.c.PutPolicy(ctx, own.Name, own.Text); err != nil {
			return acl.Source{}, false, fmt.Errorf("the cluster's database did not take the policy: %w", err)
		}
		return own, false, nil
	}
	src, err = m.policy(ctx, own)
	if errors.Is(err, ErrNoPolicy) {
		return own, false, nil
	}
	return src, err == nil, err
}

// policy is the cluster's policy, named after where it came from;
// ErrNoPolicy if none was stored. It warns when it is not own.
func (m *Member) policy(ctx context.Context, own acl.Source) (acl.Source, error) {
	p, err := m.c.Policy(ctx)
	if err != nil {
		return acl.Source{}, err
	}
	src := acl.Source{Name: fmt.Sprintf("cluster policy (%s, put by gateway %s)", p.Name, p.Gateway), Text: p.Text}
	if own.Sum() != src.Sum() {
		m.log.Warn("cluster: the cluster's policy is in force, not this gateway's file's; `licgate policy reload` on a gateway makes its file's policy the cluster's",
			slog.String("file", own.Name), slog.String("put_by", p.Gateway), slog.Time("put_at", p.Updated))
	}
	return src, nil
}
