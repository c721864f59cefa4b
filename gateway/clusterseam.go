package gateway

import (
	"context"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/admission"
	"github.com/licgate/licgate/cluster"
)

// sharedCounts is admission's view of the other gateways; nil without
// cluster mode.
func (g *Gateway) sharedCounts() admission.SharedCounts {
	if g.cl == nil {
		return nil
	}
	return clusterCounts{g}
}

// clusterCounts implements admission.SharedCounts with the cluster.
type clusterCounts struct{ g *Gateway }

func (c clusterCounts) Counts(ctx context.Context) (acl.Counts, error) { return c.g.clusterCounts(ctx) }

func (c clusterCounts) Before(context.Context) func(int64, acl.Counts) acl.Counts {
	if o := c.g.otherGateways(); o != nil {
		return o.olderThan
	}
	return nil
}

func (c clusterCounts) Update(ctx context.Context, id int64, rule int, groups []string) error {
	return c.g.cl.Update(ctx, id, cluster.Decision{Rule: rule, Groups: groups})
}
