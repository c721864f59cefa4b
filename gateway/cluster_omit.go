//go:build licgate_omit_postgres

package gateway

import (
	"context"

	"github.com/licgate/licgate/cluster"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/tunnel"
)

// startCluster fails: this build leaves PostgreSQL out (the router build).
func (g *Gateway) startCluster(context.Context, *config.Config) (tunnel.Key, error) {
	return tunnel.Key{}, cluster.ErrOmitted
}
