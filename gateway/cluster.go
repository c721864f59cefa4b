package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/admission"
	"github.com/licgate/licgate/cluster"
	"github.com/licgate/licgate/config"
)

// Cluster mode (cluster.enabled): the gateways share the PostgreSQL
// store, one WireGuard key, a session table with leases (so caps hold
// across gateways) and change notifications (so a revoke on one gateway
// cuts the device's sessions on all). The member (cluster.Member) does
// the work; the gateway wires it: see docs/ha.md.

// clusterOptions are knobs tests turn (export_test.go); zero in production.
type clusterOptions struct {
	timeout   time.Duration              // cluster.Config.Timeout; zero: its default (3s)
	onBreaker func(cluster.BreakerEvent) // told of every circuit change
}

// ClusterHealth is the cluster's database circuit, from memory (health
// and metrics never wait on the database); nil without cluster mode.
func (g *Gateway) ClusterHealth() *adminapi.ClusterHealth {
	if g.member == nil {
		return nil
	}
	b := g.member.Cluster().Breaker()
	return &adminapi.ClusterHealth{GatewayID: g.member.ID(), Database: string(b.State), Since: b.Since, Trips: b.Trips,
		Refused: b.Refused, LastError: b.LastError}
}

// sharedCounts is admission's view of the other gateways; nil without
// cluster mode.
func (g *Gateway) sharedCounts() admission.SharedCounts {
	if g.member == nil {
		return nil
	}
	return g.member
}

// notify tells every gateway of a change made here (after it committed).
// Without cluster mode it does nothing.
func (g *Gateway) notify(ch cluster.Change) {
	if g.member != nil {
		g.member.Tell(ch)
	}
}

// watchCluster applies the other gateways' changes until ctx ends.
func (g *Gateway) watchCluster(ctx context.Context) {
	defer g.wg.Done()
	g.member.Watch(ctx, cluster.Handlers{
		Policy:     func(ctx context.Context) { g.reload(ctx, false) },
		SignIn:     g.RecordSignIn,
		Identities: g.applyRemote,
		Applied:    g.onClusterChange,
	})
}

// applyRemote cuts what another gateway's change took away, as the same
// change made here would (identity's cut-and-sync routine).
func (g *Gateway) applyRemote(ctx context.Context, ch cluster.Change) {
	cut, err := g.ApplyRemote(ctx, ch)
	if err != nil {
		g.log.Error("cluster: apply a change", slog.String("kind", string(ch.Kind)), slog.String("err", err.Error()))
	}
	if cut > 0 {
		g.log.Info("cluster: sessions cut after a change on another gateway", slog.String("kind", string(ch.Kind)),
			slog.String("from", ch.Origin), slog.Int("sessions_cut", cut))
	}
}

// takeover runs the VIP takeover (cluster.vip) until ctx ends.
func (g *Gateway) takeover(ctx context.Context) {
	defer g.wg.Done()
	g.member.Takeover(ctx, g.conf().Cluster.VIPAddr(), g.tun, g.LockPeers)
}

// In cluster mode the policy lives in the database (cluster_policy): a
// reload on any gateway stores that gateway's policy there and notifies
// the others, which put it in force in place of their own file's. At
// start a gateway takes the cluster's policy if there is one, or stores
// its own if there is none yet. The other settings of licgate.yaml stay
// each gateway's own.

// clusterPolicyAtStart is cfg with the cluster's policy (or cfg, whose
// policy the cluster then takes if it had none).
func (g *Gateway) clusterPolicyAtStart(ctx context.Context, cfg *config.Config) (*config.Config, error) {
	src, fromCluster, err := g.member.StartPolicy(ctx, cfg.PolicySource())
	return withPolicy(cfg, src, fromCluster, err)
}

// clusterPolicyForReload is the config a reload puts in force: a reload
// made here (local) stores cfg's policy as the cluster's; one caused by
// another gateway's change takes the cluster's. Without cluster mode, cfg.
func (g *Gateway) clusterPolicyForReload(ctx context.Context, cfg *config.Config, local bool) (*config.Config, error) {
	if g.member == nil {
		return cfg, nil
	}
	src, fromCluster, err := g.member.ReloadPolicy(ctx, cfg.PolicySource(), local)
	return withPolicy(cfg, src, fromCluster, err)
}

// withPolicy puts the member's answer into cfg: the cluster's policy in
// place of cfg's own when it came from the cluster.
func withPolicy(cfg *config.Config, src acl.Source, fromCluster bool, err error) (*config.Config, error) {
	if err != nil {
		return nil, err
	}
	if !fromCluster {
		return cfg, nil
	}
	next, err := cfg.WithPolicy(src)
	if err != nil {
		return nil, fmt.Errorf("cluster: the stored policy does not load here (this gateway keeps its running policy): %w", err)
	}
	return next, nil
}
