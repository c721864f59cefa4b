//go:build !licgate_omit_postgres

package cluster

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

// Takeover support: a home device whose gateway died keeps sending to
// the VIP with keys the standby does not have, and stock WireGuard only
// starts a new handshake 15 s (keepalive timeout + rekey timeout) after
// its first unanswered packet. The gateway that takes the VIP over can
// cut that short by starting the handshake itself, towards the address
// the device was last seen at (its NAT mapping still points at the
// office): the active gateway records peer endpoints with
// RecordEndpoints; on takeover the new holder reads them with Endpoints
// and configures each peer's endpoint with a persistent keepalive, which
// makes wireguard-go initiate at once.
//
// Only the VIP holder may do this, and only once its answers leave from
// the VIP: a handshake from another address makes the device follow
// that address.

// RecordEndpoints stores where this gateway last saw each peer
// (WireGuard public key, base64 → endpoint). Call it every few seconds
// with the peers that had a recent handshake.
func (c *Cluster) RecordEndpoints(ctx context.Context, eps map[string]netip.AddrPort) error {
	if len(eps) == 0 {
		return nil
	}
	if err := c.ensureSchema(ctx); err != nil {
		return err
	}
	keys := make([]string, 0, len(eps))
	for k := range eps {
		keys = append(keys, k)
	}
	sort.Strings(keys) // one lock order for every gateway
	b := &pgx.Batch{}
	for _, k := range keys {
		b.Queue(`INSERT INTO cluster_endpoints(public_key, endpoint, gateway_id, seen) VALUES ($1, $2, $3, clock_timestamp())
			ON CONFLICT(public_key) DO UPDATE SET endpoint = excluded.endpoint, gateway_id = excluded.gateway_id, seen = excluded.seen`,
			k, eps[k].String(), c.cfg.GatewayID)
	}
	if err := c.cfg.Pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("cluster: record endpoints: %w", err)
	}
	return nil
}

// Endpoints returns the endpoints of peers seen within maxAge on any
// gateway, by public key.
func (c *Cluster) Endpoints(ctx context.Context, maxAge time.Duration) (map[string]netip.AddrPort, error) {
	if err := c.ensureSchema(ctx); err != nil {
		return nil, err
	}
	rows, err := c.cfg.Pool.Query(ctx, `SELECT public_key, endpoint FROM cluster_endpoints WHERE seen > clock_timestamp() - $1::interval`, maxAge)
	if err != nil {
		return nil, fmt.Errorf("cluster: endpoints: %w", err)
	}
	out := map[string]netip.AddrPort{}
	var k, e string
	_, err = pgx.ForEachRow(rows, []any{&k, &e}, func() error {
		if ap, err := netip.ParseAddrPort(e); err == nil {
			out[k] = ap
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: endpoints: %w", err)
	}
	return out, nil
}
