package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"time"

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
	grace := g.enf.Load().WindowGrace.Duration
	idents := *g.idents.Load()
	cut := g.sessions.Reevaluate(func(s *session.Session, counts acl.Counts) session.Verdict {
		id, ok := idents[s.Client.Addr()]
		if !ok || id.DeviceID != s.DeviceID {
			return session.Verdict{End: session.EndRevoked, Reason: "device no longer exists"}
		}
		if id.UserDisabled {
			return session.Verdict{End: session.EndDisabled, Reason: "user " + id.User + " is disabled"}
		}
		d := eng.Decide(acl.Request{User: s.User, Device: s.Device, Service: s.Service, Source: id.Address, Time: now, Counts: counts})
		if d.Allow {
			s.GraceUntil = time.Time{}
			return session.Verdict{Keep: true, Rule: d.Rule, Reason: d.Reason, Groups: eng.GroupsOf(s.User)}
		}
		if d.Kind == acl.KindOutsideWindow {
			if grace > 0 {
				if s.GraceUntil.IsZero() {
					s.GraceUntil = now.Add(grace)
					g.log.Info("session outside its time window: grace period started", slog.Uint64("session", s.ID),
						slog.String("user", s.User), slog.Time("cut_at", s.GraceUntil))
				}
				if now.Before(s.GraceUntil) {
					return session.Verdict{Keep: true, Rule: s.Rule, Reason: s.Reason, Groups: eng.GroupsOf(s.User)}
				}
			}
			return session.Verdict{End: session.EndWindow, Reason: d.Reason}
		}
		if d.Kind == acl.KindExpired {
			return session.Verdict{End: session.EndExpired, Reason: d.Reason} // no grace: the contract ended
		}
		return session.Verdict{End: why, Reason: d.Reason}
	})
	for s, v := range cut {
		g.log.Info("session cut", slog.Uint64("session", s.ID), slog.String("user", s.User), slog.String("device", s.Device),
			slog.String("service", s.Service), slog.String("end", v.End), slog.String("reason", v.Reason))
	}
	return len(cut)
}

// Reload re-reads the config file and puts its policy in force, then
// re-decides live sessions. A config or policy that does not load is
// rejected with its error: the old policy stays and no session is cut.
// Other changes (services, tunnel) need a restart and are reported.
func (g *Gateway) Reload(ctx context.Context) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	path := g.cfg.Path()
	if path == "" {
		return 0, fmt.Errorf("gateway: reload: the config was not loaded from a file")
	}
	cfg, err := config.Reload(path)
	if err != nil {
		g.log.Error("reload rejected: the policy in force stays", slog.String("err", err.Error()))
		return 0, fmt.Errorf("gateway: reload rejected, old policy stays: %w", err)
	}
	for _, w := range cfg.Warnings() {
		g.log.Warn("config", slog.String("warning", w))
	}
	tun := cfg.Tunnel
	if g.cfg.DDNS.Host != "" && cfg.DDNS.Host != "" && tun.Endpoint == cfg.DDNS.Host {
		tun.Endpoint = g.cfg.Tunnel.Endpoint // derived from ddns.host, not a tunnel change
	}
	if !reflect.DeepEqual(cfg.Services, g.cfg.Services) || !reflect.DeepEqual(tun, g.cfg.Tunnel) || cfg.StateDir != g.cfg.StateDir {
		g.log.Warn("reload: services, tunnel or state_dir changed; restart licgate to apply them (policy applied now)")
	}
	g.engine.Store(cfg.Engine())
	if g.onReload != nil {
		g.onReload(cfg)
	}
	enf := cfg.Enforcement
	g.enf.Store(&enf)
	if !reflect.DeepEqual(cfg.DDNS, g.cfg.DDNS) {
		if err := g.reloadDDNS(cfg); err != nil {
			g.log.Error("ddns restart failed", slog.String("err", err.Error()))
		}
	}
	n := g.Reevaluate(session.EndPolicy)
	g.log.Info("policy reloaded", slog.String("file", path), slog.Int("rules", len(cfg.Engine().Rules())), slog.Int("sessions_cut", n))
	g.auditEvent(ActorOf(ctx), "policy.reload", fmt.Sprintf("rules=%d sessions_cut=%d", len(cfg.Engine().Rules()), n))
	return n, nil
}

// Engine is the policy in force.
func (g *Gateway) Engine() *acl.Engine { return g.engine.Load() }

type heardAt struct {
	rx int64
	at time.Time
}

// enforceLoop re-evaluates sessions (time windows, expiry), cuts the
// sessions of vanished peers and prunes the audit log, until ctx ends.
func (g *Gateway) enforceLoop(ctx context.Context) {
	defer g.wg.Done()
	t := time.NewTicker(g.enf.Load().Interval.Duration)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		g.expireDue(ctx)
		g.Reevaluate(session.EndPolicy)
		g.CheckVanished()
		if time.Since(lastPrune) > time.Hour {
			lastPrune = time.Now()
			if n, err := g.st.PruneAudit(ctx, time.Now().Add(-g.cfg.Audit.Retention.Duration)); err != nil {
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
	last := map[string]time.Time{}
	seen := map[string]bool{}
	for _, p := range peers {
		k := p.PublicKey.String()
		seen[k] = true
		h, ok := g.heard[k]
		if !ok || p.RxBytes != h.rx {
			h = heardAt{rx: p.RxBytes, at: now}
			if !ok && p.RxBytes == 0 {
				h.at = time.Time{}
			}
			g.heard[k] = h
		}
		l := h.at
		if p.LastHandshake.After(l) {
			l = p.LastHandshake
		}
		last[k] = l
	}
	for k := range g.heard {
		if !seen[k] {
			delete(g.heard, k)
		}
	}
	held := g.sessions.DevicesWithSessions()
	if len(held) == 0 {
		return 0
	}
	cut := 0
	for _, id := range *g.idents.Load() {
		if held[id.DeviceID] == 0 {
			continue
		}
		l := last[id.PublicKey]
		if l.IsZero() || now.Sub(l) <= g.enf.Load().VanishedAfter.Duration {
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
