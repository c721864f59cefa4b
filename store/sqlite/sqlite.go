package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/driver" // registers the "sqlite3" driver

	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/internal/sqlrow"
)

// FileName is the database file inside the state directory.
const FileName = "licgate.db"

// Store is the SQLite state database. Safe for concurrent use.
type Store struct {
	db     *sql.DB
	dir    string
	now    func() time.Time
	closed atomic.Bool
	// DeviceAdder is AddDevice, AddDevices, AddDeviceWithin and
	// ClaimEnrollmentAndAddDevice over deviceTx.
	store.DeviceAdder
	// Lookups are the one-statement methods over conn.
	sqlrow.Lookups
}

var _ store.Copyable = (*Store)(nil)

// migration is one schema step: SQL, Go, or both (SQL first), run in
// one transaction with the version bump.
type migration struct {
	sql string
	fn  func(ctx context.Context, tx *sql.Tx, now time.Time) error
}

// migrations are applied in order; user_version holds how many ran.
// Never edit one that has shipped: append.
var migrations = []migration{
	// 1: users and devices.
	{sql: `CREATE TABLE users (
		id         INTEGER PRIMARY KEY,
		name       TEXT NOT NULL UNIQUE,
		email      TEXT NOT NULL DEFAULT '',
		disabled   INTEGER NOT NULL DEFAULT 0,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE devices (
		id         INTEGER PRIMARY KEY,
		user_id    INTEGER NOT NULL REFERENCES users(id),
		name       TEXT NOT NULL,
		public_key TEXT NOT NULL,
		address    TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		revoked_at INTEGER
	);
	CREATE UNIQUE INDEX devices_active_address ON devices(address) WHERE revoked_at IS NULL;
	CREATE UNIQUE INDEX devices_active_key ON devices(public_key) WHERE revoked_at IS NULL;
	CREATE UNIQUE INDEX devices_active_name ON devices(user_id, name) WHERE revoked_at IS NULL;`},
	// 2: the audit log: sessions, denials and admin events. Times are
	// Unix microseconds (sessions a millisecond apart still overlap).
	{sql: `CREATE TABLE audit_sessions (
		id         INTEGER PRIMARY KEY,
		key        TEXT NOT NULL UNIQUE,
		start_at   INTEGER NOT NULL,
		end_at     INTEGER,
		user       TEXT NOT NULL,
		device     TEXT NOT NULL,
		service    TEXT NOT NULL,
		proto      TEXT NOT NULL,
		client     TEXT NOT NULL,
		rule       TEXT NOT NULL,
		reason     TEXT NOT NULL,
		bytes_up   INTEGER NOT NULL DEFAULT 0,
		bytes_down INTEGER NOT NULL DEFAULT 0,
		end_reason TEXT
	);
	CREATE INDEX audit_sessions_start ON audit_sessions(start_at);
	CREATE INDEX audit_sessions_open ON audit_sessions(end_at) WHERE end_at IS NULL;
	CREATE TABLE audit_denials (
		id      INTEGER PRIMARY KEY,
		at      INTEGER NOT NULL,
		user    TEXT NOT NULL,
		device  TEXT NOT NULL,
		service TEXT NOT NULL,
		proto   TEXT NOT NULL,
		source  TEXT NOT NULL,
		rule    TEXT NOT NULL,
		reason  TEXT NOT NULL
	);
	CREATE INDEX audit_denials_at ON audit_denials(at);
	CREATE TABLE audit_events (
		id     INTEGER PRIMARY KEY,
		at     INTEGER NOT NULL,
		actor  TEXT NOT NULL,
		action TEXT NOT NULL,
		detail TEXT NOT NULL
	);
	CREATE INDEX audit_events_at ON audit_events(at);`},
	// 3: the address each DDNS provider last accepted, per family.
	{sql: `CREATE TABLE ddns_state (
		provider   TEXT NOT NULL,
		family     TEXT NOT NULL,
		addr       TEXT NOT NULL,
		updated_at INTEGER NOT NULL,
		PRIMARY KEY (provider, family)
	);`},
	// 4: enrolment links: only a hash of the token is kept; single use.
	{sql: `CREATE TABLE enrollments (
		id         INTEGER PRIMARY KEY,
		token_hash TEXT NOT NULL UNIQUE,
		user       TEXT NOT NULL,
		device     TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		used_at    INTEGER,
		used_from  TEXT
	);`},
	// 5: expiry dates for users and devices (Unix ms; NULL: none).
	{sql: `ALTER TABLE users ADD COLUMN expires_at INTEGER;
	ALTER TABLE devices ADD COLUMN expires_at INTEGER;`},
	// 6: counters that must grow across restarts (the session epoch), and
	// DDNS holds: a fatal stop or a back-off that survives a restart.
	{sql: `CREATE TABLE counters (
		name  TEXT PRIMARY KEY,
		value INTEGER NOT NULL
	);
	CREATE TABLE ddns_holds (
		provider      TEXT PRIMARY KEY,
		fatal         INTEGER NOT NULL DEFAULT 0,
		reason        TEXT NOT NULL DEFAULT '',
		fingerprint   TEXT NOT NULL DEFAULT '',
		backoff_until INTEGER,
		updated_at    INTEGER NOT NULL
	);`},
	// 7: device public keys in canonical form (schema 5 stored what it was
	// given, e.g. with a trailing newline); see canonicaliseKeys.
	{fn: canonicaliseKeys},
	// 8: devices waiting for an admin's approval (Unix ms when the
	// request ends; NULL: not pending). A pending row holds its name, key
	// and address through the same unique indexes as an active one.
	{sql: `ALTER TABLE devices ADD COLUMN pending_until INTEGER;`},
}

// SchemaVersion is the version a fully migrated database has.
func SchemaVersion() int { return len(migrations) }

// Open opens (creating if needed) the database in dir and migrates it.
// A state directory that cannot be created, is read-only or is full
// gives an error wrapping ErrStateDir and naming dir.
func Open(ctx context.Context, dir string) (*Store, error) {
	if err := store.PrepareStateDir(dir); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	path := filepath.Join(dir, FileName)
	// busy_timeout first (the driver's rule); WAL plus synchronous=FULL
	// make every commit durable before it returns.
	dsn := "file:" + path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// One connection: SQLite serialises writers anyway, and a single
	// connection makes read-modify-write allocation race-free.
	db.SetMaxOpenConns(1)
	s := &Store{db: db, dir: dir, now: time.Now}
	s.DeviceAdder = store.DeviceAdder{Run: s.deviceTx, Now: func() time.Time { return s.now() }, Name: "store"}
	s.Lookups = sqlrow.Lookups{Conn: conn{s}, Name: "store", Now: func() time.Time { return s.now() }}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", path, s.dirErr(err))
	}
	return s, nil
}

// dirErr marks errors that mean the state directory itself is the
// problem (full, read-only, I/O) so that they name the directory. SQLite
// reports a full disk as a plain I/O error, so a probe write tells which.
func (s *Store) dirErr(err error) error {
	if err == nil || errors.Is(err, store.ErrStateDir) || !(errors.Is(err, sqlite3.FULL) || errors.Is(err, sqlite3.IOERR) ||
		errors.Is(err, sqlite3.READONLY) || errors.Is(err, sqlite3.CANTOPEN) || errors.Is(err, sqlite3.PERM)) {
		return err
	}
	return store.StateDirError(s.dir, err, errors.Is(err, sqlite3.FULL), errors.Is(err, sqlite3.READONLY) || errors.Is(err, sqlite3.PERM))
}

// Close closes the database. Calls already running finish first (the
// database/sql pool waits for them); calls after Close, and a second
// Close, return an error wrapping ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return fmt.Errorf("store: close: %w", store.ErrClosed)
	}
	return s.db.Close()
}

// Version reports the schema version of the open database.
func (s *Store) Version(ctx context.Context) (int, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("store: version: %w", store.ErrClosed)
	}
	var v int
	err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	return v, err
}

func (s *Store) migrate(ctx context.Context) error {
	v, err := s.Version(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this licgate knows (%d): downgrade not supported", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		m := migrations[i]
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if m.sql != "" {
				if _, err := tx.ExecContext(ctx, m.sql); err != nil {
					return err
				}
			}
			if m.fn != nil {
				if err := m.fn(ctx, tx, s.now()); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1))
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	return nil
}

// tx runs fn in one transaction and commits it; errors that concern the
// state directory name it.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.dirErr(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return s.dirErr(err)
	}
	return s.dirErr(tx.Commit())
}

// exec runs one statement outside an explicit transaction.
func (s *Store) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	res, err := s.db.ExecContext(ctx, q, args...)
	return res, s.dirErr(err)
}

// AddUser creates a user.
func (s *Store) AddUser(ctx context.Context, name, email string) (store.User, error) {
	if err := store.ValidName(name); err != nil {
		return store.User{}, fmt.Errorf("store: add user: %w", err)
	}
	if err := store.ValidEmail(email); err != nil {
		return store.User{}, fmt.Errorf("store: add user %s: %w", name, err)
	}
	now := s.now()
	res, err := s.exec(ctx, `INSERT INTO users(name, email, created_at) VALUES (?, ?, ?)`, name, email, now.UnixMilli())
	if err != nil {
		if isUnique(err) {
			return store.User{}, fmt.Errorf("store: add user %s: %w", name, store.ErrExists)
		}
		return store.User{}, fmt.Errorf("store: add user %s: %w", name, err)
	}
	id, _ := res.LastInsertId()
	return store.User{ID: id, Name: name, Email: email, Created: time.UnixMilli(now.UnixMilli())}, nil
}

// deviceTx runs fn in one transaction (store.TxFunc).
func (s *Store) deviceTx(ctx context.Context, fn func(store.DeviceTx) error) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return fn(deviceTx{s, ctx, tx}) })
}

// deviceTx is a transaction as store.AddDeviceIn needs it. SQLite has
// one connection, so the transaction alone keeps allocation race-free.
type deviceTx struct {
	s   *Store
	ctx context.Context
	tx  *sql.Tx
}

// Claim uses up the link.
func (t deviceTx) Claim(tokenHash, from string) (store.Enrollment, error) {
	return t.s.claim(t.ctx, t.tx, tokenHash, from)
}

func (t deviceTx) UserID(name string) (int64, error) {
	var uid int64
	err := t.tx.QueryRowContext(t.ctx, sqlrow.QueryUserID, name).Scan(&uid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, store.ErrNotFound
	}
	return uid, err
}

func (t deviceTx) AddrUse(pool store.Pool, now time.Time) (*store.AddrUse, error) {
	rows, err := t.tx.QueryContext(t.ctx, sqlrow.QueryAddrUse, pool.QuarantineSince(now).UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlrow.AddrUse(rows)
}

func (t deviceTx) InsertDevice(uid int64, d store.Device) (int64, error) {
	res, err := t.tx.ExecContext(t.ctx, sqlrow.InsertDevice, uid, d.Name, d.PublicKey, d.Address.String(), d.Created.UnixMilli(),
		sqlrow.MsOrNull(d.Pending))
	if isUnique(err) {
		if strings.Contains(err.Error(), "public_key") {
			return 0, store.KeyTaken(d.PublicKey)
		}
		return 0, store.NameTaken(d.User, d.Name)
	}
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// activeDevice reads the unrevoked device user/name; ErrNotFound if none.
func activeDevice(ctx context.Context, s *Store, q querier, user, name string) (store.Device, error) {
	return queryOne(ctx, s, q, sqlrow.Device, sqlrow.QueryDevice, user, name)
}

// RevokeDevice marks the active device user/name revoked and returns it.
// Its address returns to the pool; its row stays for the audit log.
func (s *Store) RevokeDevice(ctx context.Context, user, name string) (store.Device, error) {
	var d store.Device
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if d, err = activeDevice(ctx, s, tx, user, name); err != nil {
			return err
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, sqlrow.RevokeDevice, now.UnixMilli(), d.ID); err != nil {
			return err
		}
		t := time.UnixMilli(now.UnixMilli())
		d.Revoked = &t
		return nil
	})
	if err != nil {
		return store.Device{}, fmt.Errorf("store: revoke device %s/%s: %w", user, name, err)
	}
	return d, nil
}

func isUnique(err error) bool {
	return errors.Is(err, sqlite3.CONSTRAINT_UNIQUE)
}

// RekeyDevice replaces the active device's public key; its address stays.
func (s *Store) RekeyDevice(ctx context.Context, user, name, publicKey string) (store.Device, error) {
	if err := store.CheckKey(publicKey); err != nil {
		return store.Device{}, fmt.Errorf("store: rekey device %s/%s: %w", user, name, err)
	}
	var d store.Device
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if d, err = activeDevice(ctx, s, tx, user, name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlrow.RekeyDevice, publicKey, d.ID); err != nil {
			if isUnique(err) {
				return store.KeyTaken(publicKey)
			}
			return err
		}
		d.PublicKey = publicKey
		return nil
	})
	if err != nil {
		return store.Device{}, fmt.Errorf("store: rekey device %s/%s: %w", user, name, err)
	}
	return d, nil
}
