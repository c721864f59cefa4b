package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/cluster"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/session"
)

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
	g.SetEngine(next.Engine())
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
		g.notify(cluster.Change{Kind: cluster.KindPolicy})
	}
	return adminapi.ReloadResult{SessionsCut: n, RestartNeeded: restart}, nil
}
