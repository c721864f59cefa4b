package admission

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/session"
)

// Reevaluate re-decides every live session against the policy in force
// and the current time, cutting those no longer allowed (oldest sessions
// keep their places under lowered caps; in cluster mode the oldest of
// every gateway). why is the end reason recorded for sessions the policy
// no longer allows; sessions whose time window closed are recorded as
// session.EndWindow. It returns the number cut.
func (c *Controller) Reevaluate(why string) int {
	eng := c.engine.Load()
	now := c.d.Now()
	grace := c.d.Settings().WindowGrace
	idents := c.d.Identities.Snapshot()
	type moved struct {
		id     int64
		rule   int
		groups []string
	}
	var changed []moved // shared sessions now counting against another rule or groups
	var before func(int64, acl.Counts) acl.Counts
	if c.d.Shared != nil {
		before = c.d.Shared.Before(context.Background())
	}
	keep := func(s *session.Session, v session.Verdict) session.Verdict {
		if s.ClusterID != 0 && (v.Rule != s.Rule || !slices.Equal(v.Groups, s.Groups())) {
			changed = append(changed, moved{s.ClusterID, v.Rule, v.Groups})
		}
		return v
	}
	cut := c.d.Sessions.Reevaluate(func(s *session.Session, counts acl.Counts) session.Verdict {
		if counts != nil && before != nil {
			counts = before(s.ClusterID, counts)
		}
		id, ok := idents[s.Client.Addr()]
		if !ok || id.DeviceID != s.DeviceID {
			return session.Verdict{End: session.EndRevoked, Reason: "device no longer exists"}
		}
		if id.UserDisabled {
			return session.Verdict{End: session.EndDisabled, Reason: "user " + id.User + " is disabled"}
		}
		d := eng.Decide(c.request(id, s.Service, now, counts))
		if d.Allow {
			s.GraceUntil = time.Time{}
			return keep(s, session.Verdict{Keep: true, Rule: d.Rule, Reason: d.Reason, Groups: eng.GroupsOf(s.User)})
		}
		if d.Kind.Grace() { // an hours or sign-in window ran out
			if grace > 0 {
				if s.GraceUntil.IsZero() {
					s.GraceUntil = now.Add(grace)
					c.log.Info("session outside its time window: grace period started", slog.Uint64("session", s.ID),
						slog.String("user", s.User), slog.Time("cut_at", s.GraceUntil))
				}
				if now.Before(s.GraceUntil) {
					return keep(s, session.Verdict{Keep: true, Rule: s.Rule, Reason: s.Reason, Groups: eng.GroupsOf(s.User)})
				}
			}
			if d.Kind == acl.KindSignIn {
				return session.Verdict{End: session.EndSignIn, Reason: d.Reason + c.portalHint()}
			}
			return session.Verdict{End: session.EndWindow, Reason: d.Reason}
		}
		if d.Kind == acl.KindExpired {
			return session.Verdict{End: session.EndExpired, Reason: d.Reason} // no grace: the contract ended
		}
		return session.Verdict{End: why, Reason: d.Reason}
	})
	for _, m := range changed { // after the table lock: database calls
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := c.d.Shared.Update(ctx, m.id, m.rule, m.groups); err != nil {
			c.log.Warn("cluster: a re-decided session still counts against its old rule", slog.String("err", err.Error()))
		}
		cancel()
	}
	for s, v := range cut {
		c.log.Info("session cut", slog.Uint64("session", s.ID), slog.String("user", s.User), slog.String("device", s.Device),
			slog.String("service", s.Service), slog.String("end", v.End), slog.String("reason", v.Reason))
	}
	return len(cut)
}

// Run is the enforcement loop: every Settings.Interval it expires devices,
// re-evaluates sessions (time windows, expiry), cuts the sessions of
// vanished peers and, hourly, prunes the audit log; until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	t := time.NewTicker(c.d.Settings().Interval)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.d.Identities.ExpireDue(ctx)
		c.Reevaluate(session.EndPolicy)
		c.CheckVanished()
		if time.Since(lastPrune) > time.Hour {
			lastPrune = time.Now()
			if n, err := c.d.Store.PruneAudit(ctx, time.Now().Add(-c.d.Settings().AuditRetention)); err != nil {
				c.log.Error("audit prune", slog.String("err", err.Error()))
			} else if n > 0 {
				c.log.Info("audit pruned", slog.Int64("records", n))
			}
		}
	}
}

// CheckVanished closes the sessions of devices not heard from for
// Settings.VanishedAfter: no handshake and no packet received. The
// license returns to the pool now instead of after the license server's
// own timeout. It returns the number of sessions cut.
func (c *Controller) CheckVanished() int {
	peers, err := c.d.Peers()
	if err != nil {
		c.log.Error("read peers", slog.String("err", err.Error()))
		return 0
	}
	if c.d.OnPeers != nil {
		c.d.OnPeers(peers)
	}
	now := time.Now()
	last := c.heard.Observe(peers, now)
	held := c.d.Sessions.DevicesWithSessions()
	if len(held) == 0 {
		return 0
	}
	after := c.d.Settings().VanishedAfter
	cut := 0
	for _, id := range c.d.Identities.Snapshot() {
		if held[id.DeviceID] == 0 {
			continue
		}
		l := last[id.PublicKey]
		if l.IsZero() || now.Sub(l) <= after {
			continue
		}
		devID := id.DeviceID
		n := c.d.Sessions.Cut(func(s *session.Session) bool { return s.DeviceID == devID }, session.EndVanished)
		c.log.Info("peer vanished: sessions closed", slog.String("user", id.User), slog.String("device", id.Device),
			slog.Duration("silent_for", now.Sub(l).Round(time.Second)), slog.Int("sessions_cut", n))
		cut += n
	}
	return cut
}
