package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/cluster"
	"github.com/licgate/licgate/config"
)

// In cluster mode the policy lives in the database (cluster_policy): a
// reload on any gateway stores that gateway's policy there and notifies
// the others, which put it in force in place of their own file's. At
// start a gateway takes the cluster's policy if there is one, or stores
// its own if there is none yet. The other settings of licgate.yaml stay
// each gateway's own.

// clusterPolicyAtStart puts the cluster's policy in force (or stores this
// gateway's, if the cluster has none) and returns the config in force.
func (g *Gateway) clusterPolicyAtStart(ctx context.Context, cfg *config.Config) (*config.Config, error) {
	next, err := g.withClusterPolicy(ctx, cfg)
	if errors.Is(err, cluster.ErrNoPolicy) {
		src := cfg.PolicySource()
		if len(src.Text) == 0 {
			return cfg, nil // nothing to share: a later gateway's or reload's policy will be
		}
		if err := g.cl.PutPolicy(ctx, src.Name, src.Text); err != nil {
			return nil, err
		}
		g.log.Info("cluster: this gateway's policy is now the cluster's", slog.String("from", src.Name))
		return cfg, nil
	}
	if err != nil {
		return nil, err
	}
	g.cfg.Store(next) // admission starts with its engine
	return next, nil
}

// withClusterPolicy is cfg with the cluster's policy in place of its own;
// cluster.ErrNoPolicy if none was stored.
func (g *Gateway) withClusterPolicy(ctx context.Context, cfg *config.Config) (*config.Config, error) {
	p, err := g.cl.Policy(ctx)
	if err != nil {
		return nil, err
	}
	src := acl.Source{Name: fmt.Sprintf("cluster policy (%s, put by gateway %s)", p.Name, p.Gateway), Text: p.Text}
	next, err := cfg.WithPolicy(src)
	if err != nil {
		return nil, fmt.Errorf("cluster: the stored policy does not load here (this gateway keeps its running policy): %w", err)
	}
	if own := cfg.PolicySource(); own.Sum() != src.Sum() {
		g.log.Warn("cluster: the cluster's policy is in force, not this gateway's file's; `licgate policy reload` on a gateway makes its file's policy the cluster's",
			slog.String("file", own.Name), slog.String("put_by", p.Gateway), slog.Time("put_at", p.Updated))
	}
	return next, nil
}

// clusterPolicyForReload is the config a reload puts in force: a reload
// made here (local) stores cfg's policy as the cluster's; one caused by
// another gateway's change takes the cluster's. Without cluster mode, cfg.
func (g *Gateway) clusterPolicyForReload(ctx context.Context, cfg *config.Config, local bool) (*config.Config, error) {
	if g.cl == nil {
		return cfg, nil
	}
	if local {
		src := cfg.PolicySource()
		if err := g.cl.PutPolicy(ctx, src.Name, src.Text); err != nil {
			return nil, fmt.Errorf("the cluster's database did not take the policy: %w", err)
		}
		return cfg, nil
	}
	next, err := g.withClusterPolicy(ctx, cfg)
	if errors.Is(err, cluster.ErrNoPolicy) {
		return cfg, nil
	}
	return next, err
}
