//go:build !licgate_omit_postgres

package cluster

import (
	"context"
	"log/slog"
)

// Join creates the cluster of mc.Config, starts renewing this
// gateway's leases and returns the member. A start deletes the rows a
// previous run under the same GatewayID left. Close leaves.
func Join(ctx context.Context, mc MemberConfig) (*Member, error) {
	log := mc.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Member{sessions: mc.Sessions, log: log}
	cfg := mc.Config
	cfg.OnLost = m.lost
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	// Renewal lives until Close (or StopRenewal), not as long as ctx.
	rctx, stop := context.WithCancel(context.Background())
	if err := c.Start(rctx); err != nil {
		stop()
		return nil, err
	}
	m.c, m.stop = c, stop
	return m, nil
}
