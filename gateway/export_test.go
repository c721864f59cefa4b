package gateway

import (
	"context"
	"time"

	"github.com/licgate/licgate/cluster"
)

// ExpireDueForTest runs the enforcement loop's expiry step now.
func ExpireDueForTest(g *Gateway) int { return g.ExpireDue(context.Background()) }

// SetRevokeFlushForTest sets how long a revoke or rekey waits for the FIN
// to cross the tunnel (a context cancel ends the wait early).
func SetRevokeFlushForTest(g *Gateway, d time.Duration) { g.SetFlush(d) }

// StopClusterRenewalForTest stops lease renewal without releasing the
// gateway's shared sessions: what a crash leaves behind.
func StopClusterRenewalForTest(g *Gateway) { g.member.StopRenewal() }

// WithClusterHookForTest calls f after each cluster change was applied.
func WithClusterHookForTest(f func(cluster.Change)) Option {
	return func(g *Gateway) { g.onClusterChange = f }
}

// ClusterSessionsForTest lists the cluster's counting sessions.
func ClusterSessionsForTest(g *Gateway) ([]cluster.Session, error) {
	return g.member.Cluster().Sessions(context.Background())
}

// WithClusterTimeoutForTest sets the cluster's database timeout (the
// circuit breaker's; 3s by default) and tells f of every circuit change.
func WithClusterTimeoutForTest(d time.Duration, f func(cluster.BreakerEvent)) Option {
	return func(g *Gateway) { g.clOpts = clusterOptions{timeout: d, onBreaker: f} }
}

// ClusterBreakerForTest is the database circuit's state and counters.
func ClusterBreakerForTest(g *Gateway) cluster.BreakerStatus { return g.member.Cluster().Breaker() }
