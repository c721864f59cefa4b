//go:build !licgate_omit_postgres

package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licgate/licgate/acl"
)

// Advisory lock keys: "licgat" and a purpose (package store/postgres
// uses 1 and 2).
const (
	lockSchema int64 = 0x6c6963676174_0010 // cluster tables
	lockAdmit  int64 = 0x6c6963676174_0011 // admission: count and insert
	lockKey    int64 = 0x6c6963676174_0012 // shared WireGuard key creation
)

// Channel is the PostgreSQL NOTIFY channel changes travel on.
const Channel = "licgate_changes"

// ErrClosed is returned by calls after Close, and by a second Close.
var ErrClosed = net.ErrClosed

// Config configures a Cluster. Pool and GatewayID are required.
type Config struct {
	// Pool is the database (postgres.Store.Pool()). Not closed by Close.
	Pool *pgxpool.Pool
	// GatewayID names this gateway; unique in the cluster and stable
	// across restarts (e.g. the host name). A start deletes the rows a
	// previous run under the same ID left.
	GatewayID string
	// Lease is how long a session counts without renewal. If zero, 15s.
	Lease time.Duration
	// Renew is how often this gateway renews its leases. If zero, Lease/3.
	Renew time.Duration
	// OnLost, if set, is called (from the renew loop) with this gateway's
	// sessions whose lease ran out before a renewal reached the
	// database: they no longer count anywhere, so the caller must cut
	// them to keep caps.
	OnLost func(ids []int64)
	// Timeout bounds each database call of an admission, release,
	// update or count (Admit, Release, Update, Sessions). The first that
	// fails or runs out opens the circuit: those calls are then refused
	// at once with ErrUnavailable until a probe gets an answer (see
	// breaker.go). If zero, 3s.
	Timeout time.Duration
	// ProbeBackoff is the wait before the first probe of an open
	// circuit; it doubles after each failed probe up to MaxProbeBackoff.
	// If zero, 500ms and 5s.
	ProbeBackoff, MaxProbeBackoff time.Duration
	// OnBreaker, if set, is called with every change of the circuit's
	// state (in order; it must not block).
	OnBreaker func(BreakerEvent)
	// Logger receives renewal failures and reconnections. If nil, discarded.
	Logger *slog.Logger
}

func (c *Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return 3 * time.Second
	}
	return c.Timeout
}

func (c *Config) probeBackoff() (first, most time.Duration) {
	first, most = c.ProbeBackoff, c.MaxProbeBackoff
	if first <= 0 {
		first = 500 * time.Millisecond
	}
	if most <= 0 {
		most = 5 * time.Second
	}
	return first, max(first, most)
}

func (c *Config) lease() time.Duration {
	if c.Lease <= 0 {
		return 15 * time.Second
	}
	return c.Lease
}

func (c *Config) renew() time.Duration {
	if c.Renew <= 0 {
		return c.lease() / 3
	}
	return c.Renew
}

// Cluster is one gateway's view of the shared state. Safe for concurrent use.
type Cluster struct {
	cfg Config
	log *slog.Logger

	schemaMu sync.Mutex
	schemaOK bool

	mu      sync.Mutex
	started bool
	closed  bool
	mine    map[int64]struct{} // sessions this gateway admitted and holds
	// orphans are rows this gateway no longer holds whose delete did not
	// land (a release during an outage, an admission whose commit was
	// cut off): renew deletes them once the database answers, so they
	// do not count until their lease runs out.
	orphans map[int64]struct{}
	stop    context.CancelFunc
	done    chan struct{}

	br *breaker
}

// New checks cfg; it does nothing else.
func New(cfg Config) (*Cluster, error) {
	if cfg.Pool == nil {
		return nil, errors.New("cluster: config: Pool is required")
	}
	if cfg.GatewayID == "" {
		return nil, errors.New("cluster: config: GatewayID is required")
	}
	if cfg.renew() >= cfg.lease() {
		return nil, fmt.Errorf("cluster: config: Renew (%v) must be shorter than Lease (%v)", cfg.renew(), cfg.lease())
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{cfg: cfg, log: log.With(slog.String("gateway", cfg.GatewayID)), mine: map[int64]struct{}{},
		orphans: map[int64]struct{}{}}
	first, most := cfg.probeBackoff()
	c.br = newBreaker(cfg.timeout(), first, most, c.probe, cfg.OnBreaker, c.log)
	return c, nil
}

// probe asks the database whether it answers (the open circuit's probe).
func (c *Cluster) probe(ctx context.Context) error {
	_, err := c.cfg.Pool.Exec(ctx, `SELECT 1`)
	return err
}

// Breaker is the database circuit's state (for health and metrics).
func (c *Cluster) Breaker() BreakerStatus { return c.br.status() }

// orphan remembers a row to delete when the database answers again.
func (c *Cluster) orphan(id int64) {
	c.mu.Lock()
	c.orphans[id] = struct{}{}
	c.mu.Unlock()
}

// ID is this gateway's GatewayID.
func (c *Cluster) ID() string { return c.cfg.GatewayID }

// ensureSchema creates the cluster tables once per database (under a
// lock, so gateways starting together do not race).
func (c *Cluster) ensureSchema(ctx context.Context) error {
	c.schemaMu.Lock()
	defer c.schemaMu.Unlock()
	if c.schemaOK {
		return nil
	}
	err := pgx.BeginFunc(ctx, c.cfg.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockSchema); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			CREATE TABLE IF NOT EXISTS cluster_sessions (
				id          BIGSERIAL PRIMARY KEY,
				gateway_id  TEXT NOT NULL,
				"user"      TEXT NOT NULL,
				device      TEXT NOT NULL,
				service     TEXT NOT NULL,
				rule        INTEGER NOT NULL,
				groups      TEXT[] NOT NULL DEFAULT '{}',
				started     TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
				lease_until TIMESTAMPTZ NOT NULL
			);
			CREATE INDEX IF NOT EXISTS cluster_sessions_gateway ON cluster_sessions(gateway_id);
			CREATE INDEX IF NOT EXISTS cluster_sessions_lease ON cluster_sessions(lease_until);
			CREATE TABLE IF NOT EXISTS cluster_endpoints (
				public_key TEXT PRIMARY KEY,
				endpoint   TEXT NOT NULL,
				gateway_id TEXT NOT NULL,
				seen       TIMESTAMPTZ NOT NULL
			);
			CREATE TABLE IF NOT EXISTS cluster_policy (
				id         INTEGER PRIMARY KEY CHECK (id = 1),
				name       TEXT NOT NULL,
				text       BYTEA NOT NULL,
				gateway_id TEXT NOT NULL,
				updated    TIMESTAMPTZ NOT NULL DEFAULT now()
			);
			CREATE TABLE IF NOT EXISTS cluster_secrets (
				name       TEXT PRIMARY KEY,
				public_key TEXT NOT NULL,
				sealed     BYTEA NOT NULL,
				created    TIMESTAMPTZ NOT NULL DEFAULT now()
			);`)
		return err
	})
	if err != nil {
		return fmt.Errorf("cluster: schema: %w", err)
	}
	c.schemaOK = true
	return nil
}

// Start creates the tables if needed, forgets the sessions a previous
// run of this gateway left, and renews this gateway's leases until ctx
// ends or Close. Cancelling ctx stops renewal without removing rows (as
// a crash would): the sessions stop counting after the lease.
func (c *Cluster) Start(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("cluster: start: %w", ErrClosed)
	}
	if c.started {
		c.mu.Unlock()
		return errors.New("cluster: start: already started")
	}
	c.started = true
	c.mu.Unlock()
	if err := c.ensureSchema(ctx); err != nil {
		return err
	}
	tag, err := c.cfg.Pool.Exec(ctx, `DELETE FROM cluster_sessions WHERE gateway_id = $1`, c.cfg.GatewayID)
	if err != nil {
		return fmt.Errorf("cluster: start: forget previous sessions: %w", err)
	}
	if n := tag.RowsAffected(); n > 0 {
		c.log.Info("cluster: forgot sessions of a previous run", slog.Int64("sessions", n))
	}
	rctx, cancel := context.WithCancel(ctx)
	c.mu.Lock()
	c.stop, c.done = cancel, make(chan struct{})
	c.mu.Unlock()
	go c.renewLoop(rctx, c.done)
	return nil
}

// Close stops renewal and removes this gateway's sessions (they end with
// the gateway). A second Close returns ErrClosed.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("cluster: close: %w", ErrClosed)
	}
	c.closed = true
	stop, done := c.stop, c.done
	c.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	c.br.close()
	// Through the circuit: with the database away, the rows stop
	// counting after the lease instead of a shutdown waiting on it.
	err := c.br.do(context.Background(), func(ctx context.Context) error {
		_, err := c.cfg.Pool.Exec(ctx, `DELETE FROM cluster_sessions WHERE gateway_id = $1`, c.cfg.GatewayID)
		return err
	})
	if err != nil {
		return fmt.Errorf("cluster: close: remove sessions: %w", err)
	}
	return nil
}

// renewLoop extends this gateway's leases every Renew.
func (c *Cluster) renewLoop(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(c.cfg.renew())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.renew(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("cluster: lease renewal failed", slog.Any("err", err))
		}
	}
}

// renew extends the leases of the sessions this gateway holds, reports
// those already gone, and deletes rows whose lease ran out long ago.
func (c *Cluster) renew(ctx context.Context) error {
	c.mu.Lock()
	ids := make([]int64, 0, len(c.mine))
	for id := range c.mine {
		ids = append(ids, id)
	}
	orphans := make([]int64, 0, len(c.orphans))
	for id := range c.orphans {
		orphans = append(orphans, id)
	}
	c.mu.Unlock()
	// A renewal may take until the leases it extends run out (they were
	// extended to a lease from the last renewal, one interval ago).
	rctx, cancel := context.WithTimeout(ctx, c.cfg.lease()-c.cfg.renew())
	defer cancel()
	if len(orphans) > 0 {
		if _, err := c.cfg.Pool.Exec(rctx, `DELETE FROM cluster_sessions WHERE id = ANY($1) AND gateway_id = $2`, orphans, c.cfg.GatewayID); err != nil {
			return fmt.Errorf("cluster: delete released sessions: %w", err)
		}
		c.mu.Lock()
		for _, id := range orphans {
			delete(c.orphans, id)
		}
		c.mu.Unlock()
		c.log.Info("cluster: sessions released during an outage no longer count", slog.Int("sessions", len(orphans)))
	}
	var kept []int64
	if len(ids) > 0 {
		rows, err := c.cfg.Pool.Query(rctx, `UPDATE cluster_sessions SET lease_until = clock_timestamp() + $3::interval
			WHERE gateway_id = $1 AND id = ANY($2) AND lease_until > clock_timestamp() RETURNING id`,
			c.cfg.GatewayID, ids, c.cfg.lease())
		if err != nil {
			return err
		}
		kept, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
	}
	if len(kept) < len(ids) {
		alive := make(map[int64]bool, len(kept))
		for _, id := range kept {
			alive[id] = true
		}
		var lost []int64
		c.mu.Lock()
		for _, id := range ids {
			if _, still := c.mine[id]; still && !alive[id] {
				lost = append(lost, id)
				delete(c.mine, id)
			}
		}
		c.mu.Unlock()
		if len(lost) > 0 {
			// Gone for good: a lease that ran out is never renewed, since
			// others may have admitted sessions in its place.
			c.cfg.Pool.Exec(rctx, `DELETE FROM cluster_sessions WHERE id = ANY($1)`, lost)
			c.log.Warn("cluster: sessions lost their lease", slog.Int("sessions", len(lost)))
			if c.cfg.OnLost != nil {
				c.cfg.OnLost(lost)
			}
		}
	}
	// Rows of dead gateways: they stopped counting at lease_until; keep
	// them one more lease for inspection, then delete.
	_, err := c.cfg.Pool.Exec(rctx, `DELETE FROM cluster_sessions WHERE lease_until < clock_timestamp() - $1::interval`, c.cfg.lease())
	return err
}

// retry runs fn again once when it failed before anything reached the
// server (a pooled connection that died with a database restart).
func retry(fn func() error) error {
	err := fn()
	if err != nil && pgconn.SafeToRetry(err) {
		err = fn()
	}
	return err
}

// Admit admits s if decide, called with the live counts of the whole
// cluster, allows it: counting, deciding and inserting happen under one
// cluster-wide lock, so concurrent admissions on any gateways never
// exceed a cap. decide's error is returned as it is (nothing inserted).
// The database calls go through the circuit breaker: while it is open,
// Admit fails at once with ErrUnavailable.
// s.User, s.Device and s.Service must be set; the returned Session has
// ID, Gateway, Rule, Groups, Started and LeaseUntil filled in. Call
// Release when the session ends. If the database is unreachable, Admit
// fails: admission fails closed.
//
// decide runs inside the transaction: it must not block or call back
// into the Cluster.
func (c *Cluster) Admit(ctx context.Context, s Session, decide func(acl.Counts) (Decision, error)) (Session, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return Session{}, fmt.Errorf("cluster: admit: %w", ErrClosed)
	}
	var refused error
	err := c.br.do(ctx, func(ctx context.Context) error {
		if err := c.ensureSchema(ctx); err != nil {
			return err
		}
		err := retry(func() error {
			refused, s.ID = nil, 0
			return c.admit(ctx, &s, decide, &refused)
		})
		if refused != nil {
			return nil // the database answered; decide said no
		}
		return err
	})
	if refused != nil {
		return Session{}, refused
	}
	if err != nil {
		if s.ID != 0 { // inserted, but the commit's fate is unknown
			c.orphan(s.ID)
		}
		return Session{}, fmt.Errorf("cluster: admit %s/%s: %w", s.User, s.Device, err)
	}
	c.mu.Lock()
	c.mine[s.ID] = struct{}{}
	c.mu.Unlock()
	return s, nil
}

// admit is one attempt of Admit's transaction.
func (c *Cluster) admit(ctx context.Context, sp *Session, decide func(acl.Counts) (Decision, error), refused *error) error {
	s := sp
	return pgx.BeginFunc(ctx, c.cfg.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockAdmit); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT "user", device, service, rule, groups FROM cluster_sessions WHERE lease_until > clock_timestamp()`)
		if err != nil {
			return err
		}
		n := newCounts()
		var u, d, svc string
		var rule int
		var groups []string
		_, err = pgx.ForEachRow(rows, []any{&u, &d, &svc, &rule, &groups}, func() error {
			n.Device[[2]string{u, d}]++
			n.User[u]++
			if rule >= 0 {
				n.Rule[rule]++
			}
			for _, g := range groups {
				n.Group[g]++
			}
			n.Service[svc]++
			return nil
		})
		if err != nil {
			return err
		}
		dec, err := decide(n)
		if err != nil {
			*refused = err
			return err
		}
		s.Gateway, s.Rule, s.Groups = c.cfg.GatewayID, dec.Rule, dec.Groups
		if s.Groups == nil {
			s.Groups = []string{}
		}
		return tx.QueryRow(ctx, `INSERT INTO cluster_sessions(gateway_id, "user", device, service, rule, groups, lease_until)
			VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp() + $7::interval) RETURNING id, started, lease_until`,
			s.Gateway, s.User, s.Device, s.Service, s.Rule, s.Groups, c.cfg.lease()).Scan(&s.ID, &s.Started, &s.LeaseUntil)
	})
}

// Release ends session id: it stops counting at once. Releasing a
// session that is gone (lease ran out, released before) is not an error.
// If the database does not answer (or the circuit is open), the row is
// no longer renewed and is deleted once the database answers again
// (at the latest, it stops counting when its lease runs out).
func (c *Cluster) Release(ctx context.Context, id int64) error {
	c.mu.Lock()
	delete(c.mine, id)
	c.mu.Unlock()
	err := c.br.do(ctx, func(ctx context.Context) error {
		return retry(func() error {
			_, err := c.cfg.Pool.Exec(ctx, `DELETE FROM cluster_sessions WHERE id = $1`, id)
			return err
		})
	})
	if err != nil {
		c.orphan(id)
		return fmt.Errorf("cluster: release %d: %w", id, err)
	}
	return nil
}

// Sessions lists the sessions that count now, on every gateway, oldest first.
// Through the circuit breaker, as Admit.
func (c *Cluster) Sessions(ctx context.Context) ([]Session, error) {
	var out []Session
	err := c.br.do(ctx, func(ctx context.Context) error {
		if err := c.ensureSchema(ctx); err != nil {
			return err
		}
		rows, err := c.cfg.Pool.Query(ctx, `SELECT id, gateway_id, "user", device, service, rule, groups, started, lease_until
			FROM cluster_sessions WHERE lease_until > clock_timestamp() ORDER BY started, id`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Session, error) {
			var s Session
			err := r.Scan(&s.ID, &s.Gateway, &s.User, &s.Device, &s.Service, &s.Rule, &s.Groups, &s.Started, &s.LeaseUntil)
			return s, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: sessions: %w", err)
	}
	return out, nil
}

// Update changes the rule and groups session id counts against (its
// gateway re-decided it, e.g. after a policy reload). Updating a session
// that is gone is not an error.
func (c *Cluster) Update(ctx context.Context, id int64, d Decision) error {
	groups := d.Groups
	if groups == nil {
		groups = []string{}
	}
	err := c.br.do(ctx, func(ctx context.Context) error {
		return retry(func() error {
			_, err := c.cfg.Pool.Exec(ctx, `UPDATE cluster_sessions SET rule = $2, groups = $3 WHERE id = $1`, id, d.Rule, groups)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("cluster: update %d: %w", id, err)
	}
	return nil
}
