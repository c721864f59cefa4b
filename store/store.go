// Package store is licgate's state: users, devices and (later) the audit
// log, in SQLite (modernc.org/sqlite, pure Go) with versioned migrations.
// Every write is one transaction; the database runs in WAL mode with
// synchronous=FULL, so a crash loses nothing that was committed.
//
// A device's private key is never stored: only its public key and tunnel
// address.
//
// Typical usage:
//
//	st, err := store.Open(ctx, "/var/lib/licgate")
//	defer st.Close()
//	u, err := st.AddUser(ctx, "alice", "alice@example.com")
//	d, err := st.AddDevice(ctx, store.NewDevice{User: "alice", Name: "laptop", PublicKey: pub}, pool)
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Sentinel errors; match with errors.Is.
var (
	ErrNotFound  = errors.New("not found")
	ErrExists    = errors.New("already exists")
	ErrInvalid   = errors.New("invalid")
	ErrExhausted = errors.New("address pool exhausted")
)

// FileName is the database file inside the state directory.
const FileName = "licgate.db"

// User is a person who may hold licenses.
type User struct {
	ID       int64      `json:"id"`
	Name     string     `json:"name"`
	Email    string     `json:"email,omitempty"`
	Disabled bool       `json:"disabled"`
	Created  time.Time  `json:"created"`
	Expires  *time.Time `json:"expires,omitempty"`
}

// Device is one WireGuard peer, belonging to a user.
type Device struct {
	ID        int64      `json:"id"`
	User      string     `json:"user"`
	Name      string     `json:"name"`
	PublicKey string     `json:"public_key"` // base64, as wg shows it
	Address   netip.Addr `json:"address"`
	Created   time.Time  `json:"created"`
	Revoked   *time.Time `json:"revoked,omitempty"`
	Expires   *time.Time `json:"expires,omitempty"`
}

// Store is the state database. Safe for concurrent use.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

// migrations are applied in order; user_version holds how many ran.
// Never edit one that has shipped: append.
var migrations = []string{
	// 1: users and devices.
	`CREATE TABLE users (
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
	CREATE UNIQUE INDEX devices_active_name ON devices(user_id, name) WHERE revoked_at IS NULL;`,
	// 2: the audit log: sessions, denials and admin events. Times are
	// Unix microseconds (sessions a millisecond apart still overlap).
	`CREATE TABLE audit_sessions (
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
	CREATE INDEX audit_events_at ON audit_events(at);`,
	// 3: the address each DDNS provider last accepted, per family.
	`CREATE TABLE ddns_state (
		provider   TEXT NOT NULL,
		family     TEXT NOT NULL,
		addr       TEXT NOT NULL,
		updated_at INTEGER NOT NULL,
		PRIMARY KEY (provider, family)
	);`,
	// 4: enrolment links: only a hash of the token is kept; single use.
	`CREATE TABLE enrollments (
		id         INTEGER PRIMARY KEY,
		token_hash TEXT NOT NULL UNIQUE,
		user       TEXT NOT NULL,
		device     TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		used_at    INTEGER,
		used_from  TEXT
	);`,
	// 5: expiry dates for users and devices (Unix ms; NULL: none).
	`ALTER TABLE users ADD COLUMN expires_at INTEGER;
	ALTER TABLE devices ADD COLUMN expires_at INTEGER;`,
}

// SchemaVersion is the version a fully migrated database has.
func SchemaVersion() int { return len(migrations) }

// Open opens (creating if needed) the database in dir and migrates it.
func Open(ctx context.Context, dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create state dir: %w", err)
	}
	path := filepath.Join(dir, FileName)
	dsn := "file:" + path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// One connection: SQLite serialises writers anyway, and a single
	// connection makes read-modify-write allocation race-free.
	db.SetMaxOpenConns(1)
	s := &Store{db: db, now: time.Now}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Version reports the schema version of the open database.
func (s *Store) Version(ctx context.Context) (int, error) {
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
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
				return err
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

func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidName reports whether s is a valid user or device name: lowercase
// letters, digits, '.', '_' and '-', starting with a letter or digit, at
// most 63 characters.
func ValidName(s string) error {
	if !nameRE.MatchString(s) {
		return fmt.Errorf("%w: name %q: use lowercase letters, digits, '.', '_' or '-' (at most 63)", ErrInvalid, s)
	}
	return nil
}

// AddUser creates a user.
func (s *Store) AddUser(ctx context.Context, name, email string) (User, error) {
	if err := ValidName(name); err != nil {
		return User{}, fmt.Errorf("store: add user: %w", err)
	}
	if email != "" && !strings.Contains(email, "@") {
		return User{}, fmt.Errorf("store: add user %s: %w: email %q", name, ErrInvalid, email)
	}
	now := s.now()
	res, err := s.db.ExecContext(ctx, `INSERT INTO users(name, email, created_at) VALUES (?, ?, ?)`, name, email, now.UnixMilli())
	if err != nil {
		if isUnique(err) {
			return User{}, fmt.Errorf("store: add user %s: %w", name, ErrExists)
		}
		return User{}, fmt.Errorf("store: add user %s: %w", name, err)
	}
	id, _ := res.LastInsertId()
	return User{ID: id, Name: name, Email: email, Created: time.UnixMilli(now.UnixMilli())}, nil
}

// User returns one user by name.
func (s *Store) User(ctx context.Context, name string) (User, error) {
	var u User
	var created int64
	var expires sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT id, name, email, disabled, created_at, expires_at FROM users WHERE name = ?`, name).
		Scan(&u.ID, &u.Name, &u.Email, &u.Disabled, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("store: user %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("store: user %s: %w", name, err)
	}
	u.Created = time.UnixMilli(created)
	u.Expires = msTime(expires)
	return u, nil
}

// Users lists every user by name.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, email, disabled, created_at, expires_at FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		var created int64
		var expires sql.NullInt64
		if err := rows.Scan(&u.ID, &u.Name, &u.Email, &u.Disabled, &created, &expires); err != nil {
			return nil, fmt.Errorf("store: list users: %w", err)
		}
		u.Created = time.UnixMilli(created)
		u.Expires = msTime(expires)
		out = append(out, u)
	}
	return out, rows.Err()
}

// SetUserDisabled disables or re-enables a user.
func (s *Store) SetUserDisabled(ctx context.Context, name string, disabled bool) error {
	res, err := s.db.ExecContext(ctx, `UPDATE users SET disabled = ? WHERE name = ?`, disabled, name)
	if err != nil {
		return fmt.Errorf("store: disable user %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: disable user %s: %w", name, ErrNotFound)
	}
	return nil
}

// NewDevice is what AddDevice needs.
type NewDevice struct {
	User      string
	Name      string
	PublicKey string // base64
}

// Pool is the tunnel address space devices are allocated from.
type Pool struct {
	Subnet   netip.Prefix
	Reserved []netip.Addr // e.g. the gateway's own address
}

// AddDevice records a device and allocates it the lowest free address of
// the pool, in one transaction: two concurrent adds never get one address.
func (s *Store) AddDevice(ctx context.Context, nd NewDevice, pool Pool) (Device, error) {
	if err := ValidName(nd.Name); err != nil {
		return Device{}, fmt.Errorf("store: add device: %w", err)
	}
	var d Device
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var uid int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE name = ?`, nd.User).Scan(&uid)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("user %s: %w", nd.User, ErrNotFound)
		}
		if err != nil {
			return err
		}
		used, err := usedAddrs(ctx, tx)
		if err != nil {
			return err
		}
		addr, err := allocate(pool, used)
		if err != nil {
			return err
		}
		now := s.now()
		res, err := tx.ExecContext(ctx, `INSERT INTO devices(user_id, name, public_key, address, created_at) VALUES (?, ?, ?, ?, ?)`,
			uid, nd.Name, nd.PublicKey, addr.String(), now.UnixMilli())
		if err != nil {
			if isUnique(err) {
				if strings.Contains(err.Error(), "public_key") {
					return fmt.Errorf("public key %s: %w", nd.PublicKey, ErrExists)
				}
				return fmt.Errorf("device %s/%s: %w", nd.User, nd.Name, ErrExists)
			}
			return err
		}
		id, _ := res.LastInsertId()
		d = Device{ID: id, User: nd.User, Name: nd.Name, PublicKey: nd.PublicKey, Address: addr, Created: time.UnixMilli(now.UnixMilli())}
		return nil
	})
	if err != nil {
		return Device{}, fmt.Errorf("store: add device %s/%s: %w", nd.User, nd.Name, err)
	}
	return d, nil
}

// usedAddrs reads the addresses of active devices.
func usedAddrs(ctx context.Context, tx *sql.Tx) (map[netip.Addr]bool, error) {
	used := map[netip.Addr]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT address FROM devices WHERE revoked_at IS NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		if ad, err := netip.ParseAddr(a); err == nil {
			used[ad] = true
		}
	}
	return used, rows.Err()
}

// allocate returns the lowest address of the pool that is neither used,
// reserved, the network address nor (IPv4) the broadcast address.
func allocate(pool Pool, used map[netip.Addr]bool) (netip.Addr, error) {
	p := pool.Subnet.Masked()
	if !p.IsValid() {
		return netip.Addr{}, fmt.Errorf("%w: pool subnet not set", ErrInvalid)
	}
	reserved := map[netip.Addr]bool{}
	for _, r := range pool.Reserved {
		reserved[r] = true
	}
	last := lastAddr(p)
	for a := p.Addr().Next(); a.IsValid() && p.Contains(a); a = a.Next() {
		if a.Is4() && a == last {
			break
		}
		if !used[a] && !reserved[a] {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%w: %s", ErrExhausted, p)
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

const deviceCols = `d.id, u.name, d.name, d.public_key, d.address, d.created_at, d.revoked_at, d.expires_at`

func scanDevice(sc interface{ Scan(...any) error }) (Device, error) {
	var d Device
	var addr string
	var created int64
	var revoked, expires sql.NullInt64
	if err := sc.Scan(&d.ID, &d.User, &d.Name, &d.PublicKey, &addr, &created, &revoked, &expires); err != nil {
		return d, err
	}
	d.Expires = msTime(expires)
	d.Address, _ = netip.ParseAddr(addr)
	d.Created = time.UnixMilli(created)
	if revoked.Valid {
		t := time.UnixMilli(revoked.Int64)
		d.Revoked = &t
	}
	return d, nil
}

// Devices lists active (not revoked) devices, or all when all is true.
func (s *Store) Devices(ctx context.Context, all bool) ([]Device, error) {
	q := `SELECT ` + deviceCols + ` FROM devices d JOIN users u ON u.id = d.user_id`
	if !all {
		q += ` WHERE d.revoked_at IS NULL`
	}
	q += ` ORDER BY u.name, d.name, d.id`
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("store: list devices: %w", err)
	}
	defer rows.Close()
	var out []Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list devices: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Device returns the active device user/name.
func (s *Store) Device(ctx context.Context, user, name string) (Device, error) {
	d, err := activeDevice(ctx, s.db, user, name)
	if err != nil {
		return Device{}, fmt.Errorf("store: device %s/%s: %w", user, name, err)
	}
	return d, nil
}

// activeDevice reads the unrevoked device user/name; ErrNotFound if none.
func activeDevice(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, user, name string) (Device, error) {
	d, err := scanDevice(q.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM devices d JOIN users u ON u.id = d.user_id
		WHERE u.name = ? AND d.name = ? AND d.revoked_at IS NULL`, user, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Device{}, ErrNotFound
	}
	return d, err
}

// RevokeDevice marks the active device user/name revoked and returns it.
// Its address returns to the pool; its row stays for the audit log.
func (s *Store) RevokeDevice(ctx context.Context, user, name string) (Device, error) {
	var d Device
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if d, err = activeDevice(ctx, tx, user, name); err != nil {
			return err
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET revoked_at = ? WHERE id = ?`, now.UnixMilli(), d.ID); err != nil {
			return err
		}
		t := time.UnixMilli(now.UnixMilli())
		d.Revoked = &t
		return nil
	})
	if err != nil {
		return Device{}, fmt.Errorf("store: revoke device %s/%s: %w", user, name, err)
	}
	return d, nil
}

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// RekeyDevice replaces the active device's public key; its address stays.
func (s *Store) RekeyDevice(ctx context.Context, user, name, publicKey string) (Device, error) {
	var d Device
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if d, err = activeDevice(ctx, tx, user, name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET public_key = ? WHERE id = ?`, publicKey, d.ID); err != nil {
			if isUnique(err) {
				return fmt.Errorf("public key %s: %w", publicKey, ErrExists)
			}
			return err
		}
		d.PublicKey = publicKey
		return nil
	})
	if err != nil {
		return Device{}, fmt.Errorf("store: rekey device %s/%s: %w", user, name, err)
	}
	return d, nil
}

// AddDevices records many devices in one transaction, allocating
// addresses as AddDevice does (imports, benchmarks). All or nothing.
func (s *Store) AddDevices(ctx context.Context, nds []NewDevice, pool Pool) ([]Device, error) {
	out := make([]Device, 0, len(nds))
	err := s.tx(ctx, func(tx *sql.Tx) error {
		users := map[string]int64{}
		used, err := usedAddrs(ctx, tx)
		if err != nil {
			return err
		}
		now := s.now()
		for _, nd := range nds {
			if err := ValidName(nd.Name); err != nil {
				return err
			}
			uid, ok := users[nd.User]
			if !ok {
				if err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE name = ?`, nd.User).Scan(&uid); err != nil {
					return fmt.Errorf("user %s: %w", nd.User, ErrNotFound)
				}
				users[nd.User] = uid
			}
			addr, err := allocate(pool, used)
			if err != nil {
				return err
			}
			used[addr] = true
			res, err := tx.ExecContext(ctx, `INSERT INTO devices(user_id, name, public_key, address, created_at) VALUES (?, ?, ?, ?, ?)`,
				uid, nd.Name, nd.PublicKey, addr.String(), now.UnixMilli())
			if err != nil {
				if isUnique(err) {
					return fmt.Errorf("device %s/%s: %w", nd.User, nd.Name, ErrExists)
				}
				return err
			}
			id, _ := res.LastInsertId()
			out = append(out, Device{ID: id, User: nd.User, Name: nd.Name, PublicKey: nd.PublicKey, Address: addr, Created: time.UnixMilli(now.UnixMilli())})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: add devices: %w", err)
	}
	return out, nil
}

func msTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.UnixMilli(v.Int64)
	return &t
}

func msOrNull(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

// SetUserExpiry sets (or, with nil, clears) when a user's access ends.
func (s *Store) SetUserExpiry(ctx context.Context, name string, expires *time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE users SET expires_at = ? WHERE name = ?`, msOrNull(expires), name)
	if err != nil {
		return fmt.Errorf("store: user %s expiry: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: user %s expiry: %w", name, ErrNotFound)
	}
	return nil
}

// SetDeviceExpiry sets (or clears) when the active device user/name stops working.
func (s *Store) SetDeviceExpiry(ctx context.Context, user, name string, expires *time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE devices SET expires_at = ? WHERE revoked_at IS NULL AND name = ?
		AND user_id = (SELECT id FROM users WHERE name = ?)`, msOrNull(expires), name, user)
	if err != nil {
		return fmt.Errorf("store: device %s/%s expiry: %w", user, name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: device %s/%s expiry: %w", user, name, ErrNotFound)
	}
	return nil
}
