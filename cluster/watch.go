package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// Kind says what changed.
type Kind string

const (
	KindUsers   Kind = "users"   // users added, disabled, expiry changed: reload users
	KindDevices Kind = "devices" // devices added, rekeyed, expiry changed: reload peers
	KindRevoke  Kind = "revoke"  // device User/Device revoked: drop the peer, cut its sessions
	KindDisable Kind = "disable" // user User disabled: cut the user's sessions
	KindPolicy  Kind = "policy"  // the ACL policy changed: reload and re-evaluate sessions
	KindSignIn  Kind = "signin"  // user User signed in at the portal At: rules with a signin window admit them
	// KindResync is delivered by Watch itself after it (re)connected:
	// changes sent meanwhile are lost, so reload everything.
	KindResync Kind = "resync"
)

// Change is one notification.
type Change struct {
	Kind   Kind   `json:"kind"`
	User   string `json:"user,omitempty"`
	Device string `json:"device,omitempty"`
	// At is when it happened, where that matters (KindSignIn).
	At time.Time `json:"at,omitzero"`
	// Origin is the GatewayID that sent it (filled in by Notify); a
	// gateway sees its own changes too.
	Origin string `json:"origin,omitempty"`
}

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
