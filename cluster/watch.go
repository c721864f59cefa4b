//go:build !licgate_omit_postgres

package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// Notify sends ch to every gateway watching (including this one). Send
// it after the change committed; it is not queued when nobody listens.
func (c *Cluster) Notify(ctx context.Context, ch Change) error {
	ch.Origin = c.cfg.GatewayID
	b, err := json.Marshal(ch)
	if err != nil {
		return fmt.Errorf("cluster: notify: %w", err)
	}
	err = retry(func() error {
		_, err := c.cfg.Pool.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, string(b))
		return err
	})
	if err != nil {
		return fmt.Errorf("cluster: notify %s: %w", ch.Kind, err)
	}
	return nil
}

// Watch calls fn for every Change until ctx ends, on a connection of its
// own taken from the pool. After each (re)connection it first calls fn
// with KindResync. A lost connection is retried with back-off (up to 5 s);
// Watch returns ctx's error. fn runs on Watch's goroutine: a slow fn
// delays later changes (PostgreSQL queues them meanwhile).
func (c *Cluster) Watch(ctx context.Context, fn func(Change)) error {
	backoff := 100 * time.Millisecond
	for {
		err := c.listen(ctx, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.log.Warn("cluster: change notifications interrupted; reconnecting", slog.Any("err", err), slog.Duration("in", backoff))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// listen is one LISTEN connection's life.
func (c *Cluster) listen(ctx context.Context, fn func(Change)) error {
	pc, err := c.cfg.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// Taken out of the pool: a LISTENing connection must not serve others.
	conn := pc.Hijack()
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `LISTEN `+Channel); err != nil {
		return err
	}
	fn(Change{Kind: KindResync})
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var ch Change
		if err := json.Unmarshal([]byte(n.Payload), &ch); err != nil || ch.Kind == "" {
			c.log.Warn("cluster: ignored a malformed change", slog.String("payload", n.Payload))
			continue
		}
		fn(ch)
	}
}
