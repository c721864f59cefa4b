//go:build !licgate_omit_postgres

package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/licgate/licgate/cluster"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/store/postgres"
	"github.com/licgate/licgate/tunnel"
)

// startCluster joins the cluster and returns the shared WireGuard key.
// Its closer runs before the store's: the gateway's shared session rows
// are removed while the pool is still open.
func (g *Gateway) startCluster(ctx context.Context, cfg *config.Config) (tunnel.Key, error) {
	pg, ok := g.st.(*postgres.Store)
	if !ok {
		return tunnel.Key{}, errors.New("cluster: needs store.driver: postgres")
	}
	c, err := cluster.New(cluster.Config{
		Pool:      pg.Pool(),
		GatewayID: cfg.Cluster.GatewayID,
		Lease:     cfg.Cluster.Lease.Duration,
		Timeout:   g.clOpts.timeout,
		OnBreaker: g.clOpts.onBreaker,
		OnLost:    g.clusterLost,
		Logger:    g.log.With(slog.String("component", "cluster")),
	})
	if err != nil {
		return tunnel.Key{}, err
	}
	rctx, stop := context.WithCancel(context.Background())
	if err := c.Start(rctx); err != nil {
		stop()
		return tunnel.Key{}, err
	}
	g.cl, g.clStop = c, stop
	g.sessions.Shared = clusterShared{g}
	if err := g.closeOwnAuditSessions(ctx, pg, cfg.Cluster.GatewayID); err != nil {
		return tunnel.Key{}, err
	}
	g.onClose(func() {
		if err := c.Close(); err != nil && !errors.Is(err, cluster.ErrClosed) {
			g.log.Error("cluster: leave", slog.String("err", err.Error()))
		}
	})
	// A gateway that ran alone keeps its key, so its profiles keep working.
	if _, err := os.Stat(cfg.Tunnel.PrivateKeyFile); err == nil {
		own, err := config.LoadOrCreateKey(cfg.Tunnel.PrivateKeyFile)
		if err != nil {
			return tunnel.Key{}, err
		}
		return c.AdoptSharedKey(ctx, cfg.Cluster.KEKFile, own)
	}
	return c.SharedKey(ctx, cfg.Cluster.KEKFile)
}

// closeOwnAuditSessions closes the audit sessions a previous run of
// this gateway left open (it died): in cluster mode the audit keys carry
// the gateway ID, so the other gateways' live sessions stay open.
// (store.Backend's CloseOpenSessions would close every gateway's.)
func (g *Gateway) closeOwnAuditSessions(ctx context.Context, pg *postgres.Store, id string) error {
	prefix := id + "/"
	g.boot = prefix + g.boot
	tag, err := pg.Pool().Exec(ctx, `UPDATE audit_sessions SET end_at = GREATEST(start_at, $1), end_reason = $2
		WHERE end_at IS NULL AND left(key, length($3)) = $3`, time.Now().UnixMicro(), "gateway restarted", prefix)
	if err != nil {
		return fmt.Errorf("cluster: close this gateway's open audit sessions: %w", err)
	}
	if n := tag.RowsAffected(); n > 0 {
		g.log.Warn("audit: sessions left open by an unclean stop of this gateway were closed", slog.Int64("sessions", n))
	}
	return nil
}
