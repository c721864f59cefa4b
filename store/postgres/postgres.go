//go:build !licgate_omit_postgres

package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licgate/licgate/internal/secretfile"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/internal/sqlrow"
)

// Advisory lock keys (pg_advisory_xact_lock): the first 8 bytes of
// "licgate" and a purpose, so other applications on the server do not
// collide by accident.
const (
	lockMigrate int64 = 0x6c6963676174_0001 // schema migrations
	lockDevices int64 = 0x6c6963676174_0002 // address allocation, key changes
)

// migrations mirror the SQLite backend's, one for one, so that a schema
// version means the same tables on both. Never edit one that shipped:
// append, and append to the SQLite list in the same change.
var migrations = []string{
	// 1: users and devices.
	`CREATE TABLE users (
		id         BIGSERIAL PRIMARY KEY,
		name       TEXT NOT NULL UNIQUE,
		email      TEXT NOT NULL DEFAULT '',
		disabled   BOOLEAN NOT NULL DEFAULT false,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE devices (
		id         BIGSERIAL PRIMARY KEY,
		user_id    BIGINT NOT NULL REFERENCES users(id),
		name       TEXT NOT NULL,
		public_key TEXT NOT NULL,
		address    TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		revoked_at BIGINT
	);
	CREATE UNIQUE INDEX devices_active_address ON devices(address) WHERE revoked_at IS NULL;
	CREATE UNIQUE INDEX devices_active_key ON devices(public_key) WHERE revoked_at IS NULL;
	CREATE UNIQUE INDEX devices_active_name ON devices(user_id, name) WHERE revoked_at IS NULL;`,
	// 2: the audit log (Unix microseconds).
	`CREATE TABLE audit_sessions (
		id         BIGSERIAL PRIMARY KEY,
		key        TEXT NOT NULL UNIQUE,
		start_at   BIGINT NOT NULL,
		end_at     BIGINT,
		"user"     TEXT NOT NULL,
		device     TEXT NOT NULL,
		service    TEXT NOT NULL,
		proto      TEXT NOT NULL,
		client     TEXT NOT NULL,
		rule       TEXT NOT NULL,
		reason     TEXT NOT NULL,
		bytes_up   BIGINT NOT NULL DEFAULT 0,
		bytes_down BIGINT NOT NULL DEFAULT 0,
		end_reason TEXT
	);
	CREATE INDEX audit_sessions_start ON audit_sessions(start_at);
	CREATE INDEX audit_sessions_open ON audit_sessions(end_at) WHERE end_at IS NULL;
	CREATE TABLE audit_denials (
		id      BIGSERIAL PRIMARY KEY,
		at      BIGINT NOT NULL,
		"user"  TEXT NOT NULL,
		device  TEXT NOT NULL,
		service TEXT NOT NULL,
		proto   TEXT NOT NULL,
		source  TEXT NOT NULL,
		rule    TEXT NOT NULL,
		reason  TEXT NOT NULL
	);
	CREATE INDEX audit_denials_at ON audit_denials(at);
	CREATE TABLE audit_events (
		id     BIGSERIAL PRIMARY KEY,
		at     BIGINT NOT NULL,
		actor  TEXT NOT NULL,
		action TEXT NOT NULL,
		detail TEXT NOT NULL
	);
	CREATE INDEX audit_events_at ON audit_events(at);`,
	// 3: DDNS state.
	`CREATE TABLE ddns_state (
		provider   TEXT NOT NULL,
		family     TEXT NOT NULL,
		addr       TEXT NOT NULL,
		updated_at BIGINT NOT NULL,
		PRIMARY KEY (provider, family)
	);`,
	// 4: enrolment links.
	`CREATE TABLE enrollments (
		id         BIGSERIAL PRIMARY KEY,
		token_hash TEXT NOT NULL UNIQUE,
		"user"     TEXT NOT NULL,
		device     TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		expires_at BIGINT NOT NULL,
		used_at    BIGINT,
		used_from  TEXT
	);`,
	// 5: expiry dates.
	`ALTER TABLE users ADD COLUMN expires_at BIGINT;
	ALTER TABLE devices ADD COLUMN expires_at BIGINT;`,
	// 6: counters and DDNS holds.
	`CREATE TABLE counters (
		name  TEXT PRIMARY KEY,
		value BIGINT NOT NULL
	);
	CREATE TABLE ddns_holds (
		provider      TEXT PRIMARY KEY,
		fatal         BOOLEAN NOT NULL DEFAULT false,
		reason        TEXT NOT NULL DEFAULT '',
		fingerprint   TEXT NOT NULL DEFAULT '',
		backoff_until BIGINT,
		updated_at    BIGINT NOT NULL
	);`,
	// 7: canonical public keys. SQLite rewrote keys stored before key
	// checking; every key this backend ever stored was checked (and a
	// copied SQLite database is at version 7 already), so nothing to do.
	``,
	// 8: devices waiting for an admin's approval (as SQLite's 8).
	`ALTER TABLE devices ADD COLUMN pending_until BIGINT;`,
}

// SchemaVersion is the version a fully migrated database has; it equals
// store.SchemaVersion().
func SchemaVersion() int { return len(migrations) }

// Store is the PostgreSQL backend. Safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	log    *slog.Logger
	now    func() time.Time
	closed atomic.Bool
	// DeviceAdder is AddDevice, AddDevices, AddDeviceWithin and
	// ClaimEnrollmentAndAddDevice over deviceTx.
	store.DeviceAdder
	// Lookups are the one-statement methods over conn.
	sqlrow.Lookups
}

var _ store.Copyable = (*Store)(nil)

// ReadDSNFile reads a connection string (a libpq keyword/value string or
// a postgres:// URL) from path, trimming white space; the file keeps the
// password out of the configuration. Like the cluster's KEK file, it
// must not be readable by group or others (secretfile.ReadPrivate): a
// DSN file at mode 0644 is refused.
func ReadDSNFile(path string) (string, error) {
	b, err := secretfile.ReadPrivate(path)
	if errors.Is(err, secretfile.ErrEmpty) {
		return "", fmt.Errorf("postgres: dsn file %s: %w: empty", path, store.ErrInvalid)
	}
	if err != nil {
		return "", fmt.Errorf("postgres: dsn file: %w", err)
	}
	dsn := strings.TrimSpace(b)
	if dsn == "" {
		return "", fmt.Errorf("postgres: dsn file %s: %w: empty", path, store.ErrInvalid)
	}
	return dsn, nil
}

// Open connects to dsn, checks the connection and migrates the schema
// (under the migration lock). log may be nil.
func Open(ctx context.Context, dsn string, log *slog.Logger) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse dsn: %w: %w", store.ErrInvalid, err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{pool: pool, log: log, now: time.Now}
	s.DeviceAdder = store.DeviceAdder{Run: s.deviceTx, Now: func() time.Time { return s.now() }, Name: "postgres"}
	s.Lookups = sqlrow.Lookups{Conn: conn{s}, Name: "postgres", Now: func() time.Time { return s.now() }}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", mapErr(err))
	}
	return s, nil
}

// Pool is the connection pool, for package cluster. It is closed by Close.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool after calls already running have returned their
// connections; later calls, and a second Close, fail with store.ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return fmt.Errorf("postgres: close: %w", store.ErrClosed)
	}
	s.pool.Close()
	return nil
}

// Version reads the schema version.
func (s *Store) Version(ctx context.Context) (int, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("postgres: version: %w", store.ErrClosed)
	}
	var v int
	err := s.pool.QueryRow(ctx, `SELECT version FROM licgate_schema`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("postgres: version: %w", mapErr(err))
	}
	return v, nil
}

// migrate applies missing migrations in one transaction under the
// migration lock: concurrent gateways wait, then find nothing to do.
func (s *Store) migrate(ctx context.Context) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockMigrate); err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS licgate_schema (version INTEGER NOT NULL);
			INSERT INTO licgate_schema(version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM licgate_schema)`); err != nil {
			return fmt.Errorf("schema table: %w", err)
		}
		var v int
		if err := tx.QueryRow(ctx, `SELECT version FROM licgate_schema`).Scan(&v); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if v > len(migrations) {
			return fmt.Errorf("schema version %d is newer than this licgate knows (%d): downgrade not supported", v, len(migrations))
		}
		for i := v; i < len(migrations); i++ {
			if migrations[i] != "" {
				if _, err := tx.Exec(ctx, migrations[i]); err != nil {
					return fmt.Errorf("migration %d: %w", i+1, err)
				}
			}
			s.log.Info("postgres: schema migrated", slog.Int("version", i+1))
		}
		_, err := tx.Exec(ctx, `UPDATE licgate_schema SET version = $1`, len(migrations))
		return err
	})
}

// tx runs fn in one transaction and commits it.
func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return mapErr(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback(ctx)
		return mapErr(err)
	}
	return mapErr(tx.Commit(ctx))
}

// mapErr turns PostgreSQL's errors into the store sentinels: a unique
// violation is ErrExists, a full disk or a read-only server ErrStateDir,
// a closed pool ErrClosed. The original stays in the chain.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505":
			return fmt.Errorf("%w (%s): %w", store.ErrExists, pe.ConstraintName, err)
		case pe.Code == "25006", pe.Code == "53100", strings.HasPrefix(pe.Code, "58"):
			return fmt.Errorf("%w: PostgreSQL server: %w", store.ErrStateDir, err)
		}
	}
	if strings.Contains(err.Error(), "closed pool") {
		return fmt.Errorf("%w: %w", store.ErrClosed, err)
	}
	return err
}

// isUnique reports a unique violation, and on which constraint.
func isUnique(err error) (string, bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return pe.ConstraintName, true
	}
	return "", false
}

// dialect spells the shared statements for PostgreSQL: numbered
// placeholders, and names ordered by their bytes, not the locale.
var dialect = sqlrow.Dialect{Numbered: true, Collate: ` COLLATE "C"`}

type scanner = sqlrow.Scanner

// conn is the pool outside a transaction as sqlrow.Lookups uses it.
type conn struct{ s *Store }

func (c conn) Query(ctx context.Context, q string, args ...any) (sqlrow.Rows, func(), error) {
	if c.s.closed.Load() {
		return nil, nil, store.ErrClosed
	}
	rows, err := c.s.pool.Query(ctx, dialect.SQL(q), args...)
	if err != nil {
		return nil, nil, err
	}
	return rows, rows.Close, nil
}

func (c conn) QueryRow(ctx context.Context, q string, args ...any) sqlrow.Scanner {
	if c.s.closed.Load() {
		return sqlrow.ErrRow{Err: store.ErrClosed}
	}
	return c.s.pool.QueryRow(ctx, dialect.SQL(q), args...)
}

func (c conn) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	if c.s.closed.Load() {
		return 0, store.ErrClosed
	}
	tag, err := c.s.pool.Exec(ctx, dialect.SQL(q), args...)
	return tag.RowsAffected(), mapErr(err)
}

func (conn) Err(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	return mapErr(err)
}

// Limit is SQLite's LIMIT semantics in PostgreSQL: a negative limit
// means no limit (NULL), zero means no rows.
func (conn) Limit(limit int) any {
	if limit < 0 {
		return nil
	}
	return limit
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// queryOne scans the single row query returns; ErrNotFound when none.
func queryOne[T any](ctx context.Context, s *Store, q querier, scan func(scanner) (T, error), query string, args ...any) (T, error) {
	var zero T
	if s.closed.Load() {
		return zero, store.ErrClosed
	}
	v, err := scan(q.QueryRow(ctx, dialect.SQL(query), args...))
	if err != nil {
		return zero, conn{s}.Err(err)
	}
	return v, nil
}

// AddUser creates a user.
func (s *Store) AddUser(ctx context.Context, name, email string) (store.User, error) {
	if err := store.ValidName(name); err != nil {
		return store.User{}, fmt.Errorf("postgres: add user: %w", err)
	}
	if err := store.ValidEmail(email); err != nil {
		return store.User{}, fmt.Errorf("postgres: add user %s: %w", name, err)
	}
	if s.closed.Load() {
		return store.User{}, fmt.Errorf("postgres: add user %s: %w", name, store.ErrClosed)
	}
	now := s.now().UnixMilli()
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO users(name, email, created_at) VALUES ($1, $2, $3) RETURNING id`, name, email, now).Scan(&id)
	if err != nil {
		return store.User{}, fmt.Errorf("postgres: add user %s: %w", name, mapErr(err))
	}
	return store.User{ID: id, Name: name, Email: email, Created: time.UnixMilli(now)}, nil
}

// deviceTx runs fn in one transaction (store.TxFunc).
func (s *Store) deviceTx(ctx context.Context, fn func(store.DeviceTx) error) error {
	return s.tx(ctx, func(tx pgx.Tx) error { return fn(deviceTx{s, ctx, tx}) })
}

// deviceTx is a transaction as store.AddDeviceIn needs it.
type deviceTx struct {
	s   *Store
	ctx context.Context
	tx  pgx.Tx
}

// Claim uses up the link, holding its row lock.
func (t deviceTx) Claim(tokenHash, from string) (store.Enrollment, error) {
	return t.s.claim(t.ctx, t.tx, tokenHash, from)
}

func (t deviceTx) UserID(name string) (int64, error) {
	var uid int64
	err := t.tx.QueryRow(t.ctx, dialect.SQL(sqlrow.QueryUserID), name).Scan(&uid)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, store.ErrNotFound
	}
	return uid, err
}

// AddrUse takes the device lock for the transaction (so that no other
// gateway allocates meanwhile) and reads the active addresses and those
// revoked since pool.QuarantineSince(now).
func (t deviceTx) AddrUse(pool store.Pool, now time.Time) (*store.AddrUse, error) {
	if _, err := t.tx.Exec(t.ctx, `SELECT pg_advisory_xact_lock($1)`, lockDevices); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(t.ctx, dialect.SQL(sqlrow.QueryAddrUse), pool.QuarantineSince(now).UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlrow.AddrUse(rows)
}

func (t deviceTx) InsertDevice(uid int64, d store.Device) (int64, error) {
	var id int64
	err := t.tx.QueryRow(t.ctx, dialect.SQL(sqlrow.InsertDevice)+` RETURNING id`,
		uid, d.Name, d.PublicKey, d.Address.String(), d.Created.UnixMilli(), sqlrow.MsOrNull(d.Pending)).Scan(&id)
	if c, ok := isUnique(err); ok {
		if c == "devices_active_key" {
			return 0, store.KeyTaken(d.PublicKey)
		}
		return 0, store.NameTaken(d.User, d.Name)
	}
	return id, err
}

func activeDevice(ctx context.Context, s *Store, q querier, user, name string, lock bool) (store.Device, error) {
	query := sqlrow.QueryDevice
	if lock {
		query += ` FOR UPDATE OF d`
	}
	return queryOne(ctx, s, q, sqlrow.Device, query, user, name)
}

// RevokeDevice marks the active device user/name revoked and returns it.
func (s *Store) RevokeDevice(ctx context.Context, user, name string) (store.Device, error) {
	var d store.Device
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		if d, err = activeDevice(ctx, s, tx, user, name, true); err != nil {
			return err
		}
		now := s.now().UnixMilli()
		if _, err := tx.Exec(ctx, dialect.SQL(sqlrow.RevokeDevice), now, d.ID); err != nil {
			return err
		}
		t := time.UnixMilli(now)
		d.Revoked = &t
		return nil
	})
	if err != nil {
		return store.Device{}, fmt.Errorf("postgres: revoke device %s/%s: %w", user, name, err)
	}
	return d, nil
}

// RekeyDevice replaces the active device's public key.
func (s *Store) RekeyDevice(ctx context.Context, user, name, publicKey string) (store.Device, error) {
	if err := store.CheckKey(publicKey); err != nil {
		return store.Device{}, fmt.Errorf("postgres: rekey device %s/%s: %w", user, name, err)
	}
	var d store.Device
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockDevices); err != nil {
			return err
		}
		var err error
		if d, err = activeDevice(ctx, s, tx, user, name, true); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, dialect.SQL(sqlrow.RekeyDevice), publicKey, d.ID); err != nil {
			if _, ok := isUnique(err); ok {
				return store.KeyTaken(publicKey)
			}
			return err
		}
		d.PublicKey = publicKey
		return nil
	})
	if err != nil {
		return store.Device{}, fmt.Errorf("postgres: rekey device %s/%s: %w", user, name, err)
	}
	return d, nil
}

// NextSessionEpoch returns a number greater than any returned before.
func (s *Store) NextSessionEpoch(ctx context.Context) (uint32, error) {
	var v int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO counters(name, value) VALUES ('session_epoch', 1)
			ON CONFLICT(name) DO UPDATE SET value = counters.value + 1 RETURNING value`).Scan(&v)
		if err == nil && (v < 1 || v > math.MaxUint32) {
			err = fmt.Errorf("%w: session epochs used up (%d)", store.ErrExhausted, v)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: next session epoch: %w", err)
	}
	return uint32(v), nil
}
