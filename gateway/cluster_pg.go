//go:build !licgate_omit_postgres

package gateway

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/licgate/licgate/cluster"
	"github.com/licgate/licgate/config"
	storeopen "github.com/licgate/licgate/store/open"
	"github.com/licgate/licgate/tunnel"
)

// startCluster opens the shared PostgreSQL store, joins the cluster and
// returns the shared WireGuard key. The member's closer runs before the
// store's: the gateway's shared session rows are removed while the pool
// is still open.
func (g *Gateway) startCluster(ctx context.Context, cfg *config.Config) (tunnel.Key, error) {
	if cfg.Store.Driver != "postgres" {
		return tunnel.Key{}, errors.New("cluster: needs store.driver: postgres")
	}
	pg, err := storeopen.Postgres(ctx, storeOptions(cfg, g.log))
	if err != nil {
		return tunnel.Key{}, err
	}
	g.st = pg
	g.onClose(func() { pg.Close() })
	m, err := cluster.Join(ctx, cluster.MemberConfig{
		Config: cluster.Config{Pool: pg.Pool(), GatewayID: cfg.Cluster.GatewayID, Lease: cfg.Cluster.Lease.Duration,
			Timeout: g.clOpts.timeout, OnBreaker: g.clOpts.onBreaker},
		Sessions: g.sessions,
		Logger:   g.log.With(slog.String("component", "cluster")),
	})
	if err != nil {
		return tunnel.Key{}, err
	}
	g.member = m
	g.sessions.Shared = m
	g.onClose(func() {
		if err := m.Close(); err != nil && !errors.Is(err, cluster.ErrClosed) {
			g.log.Error("cluster: leave", slog.String("err", err.Error()))
		}
	})
	// A gateway that ran alone keeps its key, so its profiles keep working.
	if _, err := os.Stat(cfg.Tunnel.PrivateKeyFile); err == nil {
		own, err := config.LoadOrCreateKey(cfg.Tunnel.PrivateKeyFile)
		if err != nil {
			return tunnel.Key{}, err
		}
		return m.Cluster().AdoptSharedKey(ctx, cfg.Cluster.KEKFile, own)
	}
	return m.Cluster().SharedKey(ctx, cfg.Cluster.KEKFile)
}
