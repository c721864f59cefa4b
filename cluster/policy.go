//go:build !licgate_omit_postgres

package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Policy is the cluster's policy as text, with who put it there.
type Policy struct {
	Name    string // where the text came from (a file name)
	Text    []byte
	Gateway string // the gateway that put it
	Updated time.Time
}

// ErrNoPolicy: no gateway has stored a policy yet.
var ErrNoPolicy = errors.New("cluster: no policy stored yet")

// PutPolicy makes text the cluster's policy (the last one put wins).
// Callers notify the others (KindPolicy) after it returns.
func (c *Cluster) PutPolicy(ctx context.Context, name string, text []byte) error {
	if err := c.ensureSchema(ctx); err != nil {
		return err
	}
	_, err := c.cfg.Pool.Exec(ctx, `INSERT INTO cluster_policy (id, name, text, gateway_id, updated)
		VALUES (1, $1, $2, $3, now())
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, text = EXCLUDED.text,
			gateway_id = EXCLUDED.gateway_id, updated = EXCLUDED.updated`, name, text, c.cfg.GatewayID)
	if err != nil {
		return fmt.Errorf("cluster: store the policy: %w", err)
	}
	return nil
}

// Policy is the cluster's policy; ErrNoPolicy if none was put.
func (c *Cluster) Policy(ctx context.Context) (Policy, error) {
	if err := c.ensureSchema(ctx); err != nil {
		return Policy{}, err
	}
	var p Policy
	err := c.cfg.Pool.QueryRow(ctx, `SELECT name, text, gateway_id, updated FROM cluster_policy WHERE id = 1`).
		Scan(&p.Name, &p.Text, &p.Gateway, &p.Updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return Policy{}, ErrNoPolicy
	}
	if err != nil {
		return Policy{}, fmt.Errorf("cluster: read the policy: %w", err)
	}
	return p, nil
}
