package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/cluster"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/session"

	"github.com/licgate/licgate/acl"
)

// Reevaluate re-decides every live session against the policy in force
// and the current time, cutting those no longer allowed (oldest sessions
// keep their places under lowered caps). why is the end reason recorded
// for sessions the policy no longer allows; sessions whose time window
// closed are recorded as session.EndWindow. It returns the number cut.
func (g *Gateway) Reevaluate(why string) int {
	eng := g.engine.Load()
	now := g.now()
	grace := g.conf().Enforcement.WindowGrace.Duration
	idents := g.Snapshot()
	type moved struct {
		id  int64
		dec cluster.Decision
	}
	var changed []moved // cluster sessions now counting against another rule or groups
	others := g.otherGateways()
	keep := func(s *session.Session, v session.Verdict) session.Verdict {
		if s.ClusterID != 0 && (v.Rule != s.Rule || !slices.Equal(v.Groups, s.Groups())) {
			changed = append(changed, moved{s.ClusterID, cluster.Decision{Rule: v.Rule, Groups: v.Groups}})
		}
		return v
	}
	cut := g.sessions.Reevaluate(func(s *session.Session, counts acl.Counts) session.Verdict {
		if counts != nil && others != nil {
			counts = others.olderThan(s.ClusterID, counts)
		}
		id, ok := idents[s.Client.Addr()]
		if !ok || id.DeviceID != s.DeviceID {
			return session.Verdict{End: session.EndRevoked, Reason: "device no longer exists"}
		}
		if id.UserDisabled {
			return session.Verdict{End: session.EndDisabled, Reason: "user " + id.User + " is disabled"}
		}
		d := eng.Decide(g.request(id, s.Service, now, counts))
		if d.Allow {
			s.GraceUntil = time.Time{}
			return keep(s, session.Verdict{Keep: true, Rule: d.Rule, Reason: d.Reason, Groups: eng.GroupsOf(s.User)})
		}
		if d.Kind.Grace() { // an hours or sign-in window ran out
			if grace > 0 {
				if s.GraceUntil.IsZero() {
					s.GraceUntil = now.Add(grace)
					g.log.Info("session outside its time window: grace period started", slog.Uint64("session", s.ID),
						slog.String("user", s.User), slog.Time("cut_at", s.GraceUntil))
				}
				if now.Before(s.GraceUntil) {
					return keep(s, session.Verdict{Keep: true, Rule: s.Rule, Reason: s.Reason, Groups: eng.GroupsOf(s.User)})
				}
			}
			if d.Kind == acl.KindSignIn {
				return session.Verdict{End: session.EndSignIn, Reason: d.Reason + g.portalHint()}
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
		if err := g.cl.Update(ctx, m.id, m.dec); err != nil {
			g.log.Warn("cluster: a re-decided session still counts against its old rule", slog.String("err", err.Error()))
		}
		cancel()
	}
	for s, v := range cut {
		g.log.Info("session cut", slog.Uint64("session", s.ID), slog.String("user", s.User), slog.String("device", s.Device),
			slog.String("service", s.Service), slog.String("end", v.End), slog.String("reason", v.Reason))
	}
	return len(cut)
}

// Reload re-reads the config file and puts the new configuration in
// force as a whole, atomically, then re-decides live sessions. A config
// that does not load (or an empty or missing file) is rejected with its
// error: the running config stays and no session is cut. Settings that
// need a restart (listeners, services, tunnel device) keep their running
// values and are named in the answer and the log, never silently ignored.
func (g *Gateway) Reload(ctx context.Context) (adminapi.ReloadResult, error) {
	return g.reload(ctx, true)
}

// reload is Reload; notify tells the other gateways of the cluster to
// reload theirs (not when the reload was their request).
func (g *Gateway) reload(ctx context.Context, notify bool) (adminapi.ReloadResult, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.conf()
	cfg, err := config.Reload(old.Path())
	if err == nil {
		cfg, err = g.clusterPolicyForReload(ctx, cfg, notify)
	}
	if err != nil {
		g.log.Error("reload rejected: the running config stays", slog.String("err", err.Error()))
		return adminapi.ReloadResult{}, fmt.Errorf("gateway: reload rejected, the running config stays: %w", err)
	}
	for _, w := range cfg.Warnings() {
		g.log.Warn("config", slog.String("warning", w))
	}
	next, restart := config.MergeReload(old, cfg)
	if len(restart) > 0 {
		g.log.Warn("reload: these settings changed but take effect only after a restart; the running values stay",
			slog.String("settings", strings.Join(restart, ", ")))
	}
	g.cfg.Store(next)
	g.engine.Store(next.Engine())
	if err := g.directoryEngine(next); err != nil {
		g.log.Error("reload: the directory's groups do not fit the new policy; they are left out until the next sync", slog.String("err", err.Error()))
	}
	if g.onReload != nil {
		g.onReload(next)
	}
	if !reflect.DeepEqual(next.DDNS, old.DDNS) {
		if err := g.reloadDDNS(next); err != nil {
			g.log.Error("ddns restart failed", slog.String("err", err.Error()))
		}
	}
	n := g.Reevaluate(session.EndPolicy)
	g.log.Info("config reloaded", slog.String("file", next.Path()), slog.Int("rules", len(next.Engine().Rules())), slog.Int("sessions_cut", n))
	g.auditEvent(audit.ActorOf(ctx), "policy.reload", fmt.Sprintf("rules=%d sessions_cut=%d restart_needed=%s", len(next.Engine().Rules()), n, strings.Join(restart, ",")))
	if notify {
		g.notify(cluster.KindPolicy, "", "")
	}
	return adminapi.ReloadResult{SessionsCut: n, RestartNeeded: restart}, nil
}

// enforceLoop re-evaluates sessions (time windows, expiry), cuts the
// sessions of vanished peers and prunes the audit log, until ctx ends.
func (g *Gateway) enforceLoop(ctx context.Context) {
	defer g.wg.Done()
	t := time.NewTicker(g.conf().Enforcement.Interval.Duration)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		g.ExpireDue(ctx)
		g.Reevaluate(session.EndPolicy)
		g.CheckVanished()
		if time.Since(lastPrune) > time.Hour {
			lastPrune = time.Now()
			if n, err := g.st.PruneAudit(ctx, time.Now().Add(-g.conf().Audit.Retention.Duration)); err != nil {
				g.log.Error("audit prune", slog.String("err", err.Error()))
			} else if n > 0 {
				g.log.Info("audit pruned", slog.Int64("records", n))
			}
		}
	}
}

// CheckVanished closes the sessions of devices not heard from for
// enforcement.vanished_after: no handshake and no packet received. The
// license returns to the pool now instead of after the license server's
// own timeout. It returns the number of sessions cut.
func (g *Gateway) CheckVanished() int {
	peers, err := g.tun.Peers()
	if err != nil {
		g.log.Error("read peers", slog.String("err", err.Error()))
		return 0
	}
	g.trackEndpoints(g.peerInfos(peers))
	now := time.Now()
	last := g.heard.Observe(peers, now)
	held := g.sessions.DevicesWithSessions()
	if len(held) == 0 {
		return 0
	}
	cut := 0
	for _, id := range g.Snapshot() {
		if held[id.DeviceID] == 0 {
			continue
		}
		l := last[id.PublicKey]
		if l.IsZero() || now.Sub(l) <= g.conf().Enforcement.VanishedAfter.Duration {
			continue
		}
		devID := id.DeviceID
		n := g.sessions.Cut(func(s *session.Session) bool { return s.DeviceID == devID }, session.EndVanished)
		g.log.Info("peer vanished: sessions closed", slog.String("user", id.User), slog.String("device", id.Device),
			slog.Duration("silent_for", now.Sub(l).Round(time.Second)), slog.Int("sessions_cut", n))
		cut += n
	}
	return cut
}
