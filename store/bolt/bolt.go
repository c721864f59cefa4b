package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"syscall"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/licgate/licgate/store"
)

// This file is the bbolt backend's core: users, devices, links, DDNS
// state. It keeps the contract of store.Backend with key/value buckets
// and hand-kept indexes; every call is one bbolt transaction, and bbolt
// fsyncs each commit before it returns.

// FileName is the database file inside the state directory. It differs
// from the SQLite build's licgate.db, so one build never opens the
// other's file.
const FileName = "licgate.bolt"

// sqliteFileName is the SQLite build's file: Open refuses a directory
// that has one and no bolt file yet, instead of starting empty.
const sqliteFileName = "licgate.db"

// schemaVersion is the schema this layout holds: the same rows as the
// SQLite schema of that version (canonical keys, epochs, DDNS holds).
const schemaVersion = 8

// SchemaVersion is the version a fully migrated database has.
func SchemaVersion() int { return schemaVersion }

// lockTimeout is how long Open waits for another process holding the
// file (bbolt locks it exclusively).
const lockTimeout = 5 * time.Second

// Buckets. Keys of strings that may be empty (session keys, token
// hashes, provider names) carry a one-byte prefix, as bbolt refuses
// empty keys; see sk.
var (
	bMeta     = []byte("meta")               // "version" → u64
	bCounters = []byte("counters")           // name → u64
	bUsers    = []byte("users")              // name → userRec
	bDevices  = []byte("devices")            // id → deviceRec
	bDevName  = []byte("devices_by_name")    // user \0 name → id, active only
	bDevKey   = []byte("devices_by_key")     // public key → id, active only
	bDevAddr  = []byte("devices_by_addr")    // address → id, active only
	bEnroll   = []byte("enrollments")        // sk(token hash) → enrolRec
	bSessions = []byte("audit_sessions")     // tkey(start) id → sessionRec
	bSessKey  = []byte("audit_session_key")  // sk(key) → sessions key
	bSessEnd  = []byte("audit_session_end")  // tkey(end) id → sessions key
	bSessOpen = []byte("audit_session_open") // sessions key → nothing
	bDenials  = []byte("audit_denials")      // tkey(at) id → denialRec
	bEvents   = []byte("audit_events")       // tkey(at) id → eventRec
	bDDNS     = []byte("ddns_state")         // sk(provider \0 family) → ddnsRec
	bHolds    = []byte("ddns_holds")         // sk(provider) → holdRec
	buckets   = [][]byte{bMeta, bCounters, bUsers, bDevices, bDevName, bDevKey, bDevAddr, bEnroll,
		bSessions, bSessKey, bSessEnd, bSessOpen, bDenials, bEvents, bDDNS, bHolds}
)

// Records, JSON-encoded. Times are Unix milliseconds, audit times Unix
// microseconds, as in the SQLite schema.
type (
	userRec struct {
		ID       int64  `json:"id"`
		Email    string `json:"email,omitempty"`
		Disabled bool   `json:"disabled,omitempty"`
		Created  int64  `json:"created"`
		Expires  *int64 `json:"expires,omitempty"`
	}
	deviceRec struct {
		User    string `json:"user"`
		Name    string `json:"name"`
		Key     string `json:"key"`
		Addr    string `json:"addr"`
		Created int64  `json:"created"`
		Revoked *int64 `json:"revoked,omitempty"`
		Expires *int64 `json:"expires,omitempty"`
		Pending *int64 `json:"pending,omitempty"` // waiting for approval until (schema 8)
	}
	enrolRec struct {
		ID      uint64 `json:"id"`
		User    string `json:"user"`
		Device  string `json:"device"`
		Created int64  `json:"created"`
		Expires int64  `json:"expires"`
		Used    *int64 `json:"used,omitempty"`
		From    string `json:"from,omitempty"`
	}
	sessionRec struct {
		Key       string
		Start     int64
		End       *int64
		User      string
		Device    string
		Service   string
		Proto     string
		Client    string
		Rule      string
		Reason    string
		BytesUp   int64
		BytesDown int64
		EndReason string
	}
	denialRec struct {
		At      int64
		User    string
		Device  string
		Service string
		Proto   string
		Source  string
		Rule    string
		Reason  string
	}
	eventRec struct {
		At     int64
		Actor  string
		Action string
		Detail string
	}
	ddnsRec struct {
		Addr    string `json:"addr"`
		Updated int64  `json:"updated"`
	}
	holdRec struct {
		Fatal       bool   `json:"fatal,omitempty"`
		Reason      string `json:"reason,omitempty"`
		Fingerprint string `json:"fingerprint,omitempty"`
		Until       *int64 `json:"until,omitempty"`
		Updated     int64  `json:"updated"`
	}
)

// Store is the bbolt state database. Safe for concurrent use: bbolt runs
// one writer at a time and readers beside it.
type Store struct {
	db     *bbolt.DB
	dir    string
	now    func() time.Time
	closed atomic.Bool
	// DeviceAdder is AddDevice, AddDevices, AddDeviceWithin and
	// ClaimEnrollmentAndAddDevice over deviceTx.
	store.DeviceAdder
}

var _ store.Copyable = (*Store)(nil)

// Open opens (creating if needed) the database in dir. A state directory
// that cannot be created, is read-only or is full gives an error
// wrapping ErrStateDir and naming dir. A directory holding only the
// SQLite build's database is refused (ErrInvalid): this build cannot
// read it, and starting empty would lose every user and device.
func Open(ctx context.Context, dir string) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if err := store.PrepareStateDir(dir); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	path := filepath.Join(dir, FileName)
	_, err := os.Stat(path)
	fresh := errors.Is(err, fs.ErrNotExist)
	if _, serr := os.Stat(filepath.Join(dir, sqliteFileName)); serr == nil && fresh {
		return nil, fmt.Errorf("store: %w: %s holds %s, a SQLite database this build (licgate_store_bolt, no SQL engine) cannot read; "+
			"run a full licgate build on it, or move it away to start with an empty state", store.ErrInvalid, dir, sqliteFileName)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("store: open %s: another process holds it: %w", path, err)
		}
		s := &Store{dir: dir}
		return nil, fmt.Errorf("store: open %s: %w", path, s.dirErr(err))
	}
	if fresh {
		syncDir(dir) // the new file's directory entry, too, survives a crash
	}
	s := &Store{db: db, dir: dir, now: time.Now}
	s.DeviceAdder = store.DeviceAdder{Run: s.deviceTx, Now: func() time.Time { return s.now() }, Name: "store"}
	if err := s.init(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	return s, nil
}

// syncDir fsyncs a directory; best effort (not every system can).
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}

// init creates the buckets and checks the schema version.
func (s *Store) init(ctx context.Context) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bMeta)
		v := meta.Get([]byte("version"))
		switch {
		case v == nil:
			return meta.Put([]byte("version"), u64(schemaVersion))
		case binary.BigEndian.Uint64(v) > schemaVersion:
			return fmt.Errorf("schema version %d is newer than this licgate knows (%d): downgrade not supported", binary.BigEndian.Uint64(v), schemaVersion)
		case binary.BigEndian.Uint64(v) < schemaVersion:
			// 7 -> 8 adds deviceRec.Pending, absent (not pending) in old rows.
			return meta.Put([]byte("version"), u64(schemaVersion))
		}
		return nil
	})
}

// dirErr marks errors that mean the state directory itself is the
// problem (full, read-only, I/O) so that they name the directory, and
// maps bbolt's closed-database error to ErrClosed.
func (s *Store) dirErr(err error) error {
	switch {
	case err == nil, errors.Is(err, store.ErrStateDir):
		return err
	case errors.Is(err, bbolt.ErrDatabaseNotOpen):
		return fmt.Errorf("%w: %w", store.ErrClosed, err)
	case !(errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EIO) ||
		errors.Is(err, fs.ErrPermission)):
		return err
	}
	return store.StateDirError(s.dir, err, false, false)
}

// update runs fn in one read-write transaction, committed (and fsynced)
// when fn returns nil, rolled back otherwise.
func (s *Store) update(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.dirErr(s.db.Update(func(tx *bbolt.Tx) error {
		for _, f := range fills {
			if b := tx.Bucket(f.name); b != nil { // nil in init, before they exist
				b.FillPercent = f.fill
			}
		}
		return fn(tx)
	}))
}

// fills are the page fill factors of the audit buckets: their keys grow
// with time, so pages split at the end and can be packed (bbolt's
// default of 0.5 suits random inserts and left the audit log twice its
// size). Sessions are rewritten once when they end, so keep some room.
var fills = []struct {
	name []byte
	fill float64
}{{bDenials, 1}, {bEvents, 1}, {bSessEnd, 1}, {bSessions, 0.9}, {bSessOpen, 0.9}}

// view runs fn in one read-only transaction.
func (s *Store) view(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.dirErr(s.db.View(fn))
}

// Close closes the database. Calls already running finish first (bbolt
// waits for open transactions); calls after Close, and a second Close,
// return an error wrapping ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return fmt.Errorf("store: close: %w", store.ErrClosed)
	}
	return s.db.Close()
}

// Version reports the schema version of the open database.
func (s *Store) Version(ctx context.Context) (int, error) {
	var v int
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v = int(binary.BigEndian.Uint64(tx.Bucket(bMeta).Get([]byte("version"))))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: version: %w", err)
	}
	return v, nil
}

// Encoding helpers.

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// tkey is a signed time that sorts bytewise (sign bit flipped).
func tkey(v int64) []byte { return u64(uint64(v) ^ 1<<63) }

// tval reads back the time of a key made by tkey.
func tval(k []byte) int64 { return int64(binary.BigEndian.Uint64(k[:8]) ^ 1<<63) }

// rowKey is tkey(t) followed by the row's id: time order, id breaking ties.
func rowKey(t int64, id uint64) []byte { return append(tkey(t), u64(id)...) }

// sk is the key of a string that may be empty.
func sk(s string) []byte { return append([]byte{'='}, s...) }

// put stores v: audit records in their compact binary form (they are
// the bulk of the file), the few other rows as JSON.
func put(b *bbolt.Bucket, k []byte, v any) error {
	if c, ok := v.(interface{ encode() []byte }); ok {
		return b.Put(k, c.encode())
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, raw)
}

// decode reads a value written by put into v.
func decode[T any](raw []byte, v *T) error {
	if d, ok := any(v).(interface{ decode([]byte) error }); ok {
		return d.decode(raw)
	}
	return json.Unmarshal(raw, v)
}

func get[T any](b *bbolt.Bucket, k []byte) (T, bool, error) {
	var v T
	raw := b.Get(k)
	if raw == nil {
		return v, false, nil
	}
	return v, true, decode(raw, &v)
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func msp(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	v := t.UnixMilli()
	return &v
}

func msTimep(v *int64) *time.Time {
	if v == nil {
		return nil
	}
	t := time.UnixMilli(*v)
	return &t
}

func usTimep(v *int64) *time.Time {
	if v == nil {
		return nil
	}
	t := time.UnixMicro(*v)
	return &t
}

func (r userRec) user(name string) store.User {
	return store.User{ID: r.ID, Name: name, Email: r.Email, Disabled: r.Disabled, Created: time.UnixMilli(r.Created), Expires: msTimep(r.Expires)}
}

func (r deviceRec) device(id uint64) store.Device {
	d := store.Device{ID: int64(id), User: r.User, Name: r.Name, PublicKey: r.Key, Created: time.UnixMilli(r.Created),
		Revoked: msTimep(r.Revoked), Expires: msTimep(r.Expires), Pending: msTimep(r.Pending)}
	d.Address, _ = netip.ParseAddr(r.Addr)
	return d
}

func nameKey(user, name string) []byte { return []byte(user + "\x00" + name) }

// Users.

// AddUser creates a user.
func (s *Store) AddUser(ctx context.Context, name, email string) (store.User, error) {
	if err := store.CheckUser(name, email); err != nil {
		return store.User{}, fmt.Errorf("store: add user: %w", err)
	}
	var u store.User
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bUsers)
		if b.Get([]byte(name)) != nil {
			return store.ErrExists
		}
		id, err := b.NextSequence()
		if err != nil {
			return err
		}
		r := userRec{ID: int64(id), Email: email, Created: ms(s.now())}
		u = r.user(name)
		return put(b, []byte(name), r)
	})
	if err != nil {
		return store.User{}, fmt.Errorf("store: add user %s: %w", name, err)
	}
	return u, nil
}

// User returns one user by name.
func (s *Store) User(ctx context.Context, name string) (store.User, error) {
	var u store.User
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		r, ok, err := get[userRec](tx.Bucket(bUsers), []byte(name))
		if err == nil && !ok {
			err = store.ErrNotFound
		}
		u = r.user(name)
		return err
	})
	if err != nil {
		return store.User{}, fmt.Errorf("store: user %s: %w", name, err)
	}
	return u, nil
}

// Users lists every user by name.
func (s *Store) Users(ctx context.Context) ([]store.User, error) {
	us := []store.User{}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bUsers).ForEach(func(k, v []byte) error {
			var r userRec
			if err := decode(v, &r); err != nil {
				return err
			}
			us = append(us, r.user(string(k)))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	return us, nil
}

// updateUser changes the user name in one transaction; ErrNotFound.
func (s *Store) updateUser(ctx context.Context, name string, fn func(*userRec)) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bUsers)
		r, ok, err := get[userRec](b, []byte(name))
		if err != nil {
			return err
		}
		if !ok {
			return store.ErrNotFound
		}
		fn(&r)
		return put(b, []byte(name), r)
	})
}

// SetUserDisabled disables or re-enables a user.
func (s *Store) SetUserDisabled(ctx context.Context, name string, disabled bool) error {
	if err := s.updateUser(ctx, name, func(r *userRec) { r.Disabled = disabled }); err != nil {
		return fmt.Errorf("store: disable user %s: %w", name, err)
	}
	return nil
}

// SetUserExpiry sets (or, with nil, clears) when a user's access ends.
func (s *Store) SetUserExpiry(ctx context.Context, name string, expires *time.Time) error {
	if err := s.updateUser(ctx, name, func(r *userRec) { r.Expires = msp(expires) }); err != nil {
		return fmt.Errorf("store: user %s expiry: %w", name, err)
	}
	return nil
}

// Devices.

// deviceTx runs fn in one update transaction (store.TxFunc).
func (s *Store) deviceTx(ctx context.Context, fn func(store.DeviceTx) error) error {
	return s.update(ctx, func(tx *bbolt.Tx) error { return fn(deviceTx{s, tx}) })
}

// deviceTx is a read-write transaction as store.AddDeviceIn needs it;
// bbolt runs one writer at a time, so allocation is race-free.
type deviceTx struct {
	s  *Store
	tx *bbolt.Tx
}

// Claim uses up the link.
func (t deviceTx) Claim(tokenHash, from string) (store.Enrollment, error) {
	return t.s.claim(t.tx, tokenHash, from)
}

// UserID says whether the user exists (users are keyed by name here).
func (t deviceTx) UserID(name string) (int64, error) {
	r, ok, err := get[userRec](t.tx.Bucket(bUsers), []byte(name))
	if err == nil && !ok {
		err = store.ErrNotFound
	}
	return r.ID, err
}

// AddrUse reads the addresses of active devices (the address index)
// and, when the pool quarantines them, of devices revoked since
// pool.QuarantineSince(now) (every device row: revocations are rare).
func (t deviceTx) AddrUse(pool store.Pool, now time.Time) (*store.AddrUse, error) {
	use := &store.AddrUse{Used: map[netip.Addr]bool{}, Revoked: map[netip.Addr]time.Time{}}
	err := t.tx.Bucket(bDevAddr).ForEach(func(k, _ []byte) error {
		if a, err := netip.ParseAddr(string(k)); err == nil {
			use.Used[a] = true
		}
		return nil
	})
	if err != nil || pool.Quarantine <= 0 {
		return use, err
	}
	since := ms(pool.QuarantineSince(now))
	err = t.tx.Bucket(bDevices).ForEach(func(_, v []byte) error {
		var r deviceRec
		if err := decode(v, &r); err != nil {
			return err
		}
		if r.Revoked == nil || *r.Revoked < since {
			return nil
		}
		if a, err := netip.ParseAddr(r.Addr); err == nil && time.UnixMilli(*r.Revoked).After(use.Revoked[a]) {
			use.Revoked[a] = time.UnixMilli(*r.Revoked)
		}
		return nil
	})
	return use, err
}

// InsertDevice checks the name and key indexes and writes the row.
func (t deviceTx) InsertDevice(_ int64, d store.Device) (int64, error) {
	if t.tx.Bucket(bDevName).Get(nameKey(d.User, d.Name)) != nil {
		return 0, store.NameTaken(d.User, d.Name)
	}
	if t.tx.Bucket(bDevKey).Get([]byte(d.PublicKey)) != nil {
		return 0, store.KeyTaken(d.PublicKey)
	}
	id, err := t.tx.Bucket(bDevices).NextSequence()
	if err != nil {
		return 0, err
	}
	r := deviceRec{User: d.User, Name: d.Name, Key: d.PublicKey, Addr: d.Address.String(), Created: ms(d.Created), Pending: msp(d.Pending)}
	return int64(id), putDevice(t.tx, id, r)
}

// putDevice writes a device row and, when it is active, its indexes.
func putDevice(tx *bbolt.Tx, id uint64, r deviceRec) error {
	if err := put(tx.Bucket(bDevices), u64(id), r); err != nil {
		return err
	}
	if r.Revoked != nil {
		return nil
	}
	for _, ix := range []struct {
		b []byte
		k []byte
	}{{bDevName, nameKey(r.User, r.Name)}, {bDevKey, []byte(r.Key)}, {bDevAddr, []byte(r.Addr)}} {
		if err := tx.Bucket(ix.b).Put(ix.k, u64(id)); err != nil {
			return err
		}
	}
	return nil
}

// activeDevice reads the unrevoked device user/name; ErrNotFound if none.
// A pending device is in the indexes (it holds its name, key and
// address) but is no active device.
func activeDevice(tx *bbolt.Tx, user, name string) (uint64, deviceRec, error) {
	idb := tx.Bucket(bDevName).Get(nameKey(user, name))
	if idb == nil {
		return 0, deviceRec{}, store.ErrNotFound
	}
	id := binary.BigEndian.Uint64(idb)
	r, ok, err := get[deviceRec](tx.Bucket(bDevices), idb)
	switch {
	case err == nil && !ok:
		err = fmt.Errorf("device index names missing row %d", id)
	case err == nil && r.Pending != nil:
		return 0, deviceRec{}, store.ErrNotFound
	}
	return id, r, err
}

// Devices lists active (not revoked) devices, or all when all is true,
// ordered by user, name and id.
func (s *Store) Devices(ctx context.Context, all bool) ([]store.Device, error) {
	ds := []store.Device{}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bDevices).ForEach(func(k, v []byte) error {
			var r deviceRec
			if err := decode(v, &r); err != nil {
				return err
			}
			if r.Pending == nil && (all || r.Revoked == nil) {
				ds = append(ds, r.device(binary.BigEndian.Uint64(k)))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: list devices: %w", err)
	}
	sort.SliceStable(ds, func(i, j int) bool {
		if ds[i].User != ds[j].User {
			return ds[i].User < ds[j].User
		}
		return ds[i].Name < ds[j].Name // ids ascend already: ForEach is in id order
	})
	return ds, nil
}

// Device returns the active device user/name.
func (s *Store) Device(ctx context.Context, user, name string) (store.Device, error) {
	var d store.Device
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		id, r, err := activeDevice(tx, user, name)
		d = r.device(id)
		return err
	})
	if err != nil {
		return store.Device{}, fmt.Errorf("store: device %s/%s: %w", user, name, err)
	}
	return d, nil
}

// RevokeDevice marks the active device user/name revoked and returns it.
// Its address, name and key return to the pool; its row stays.
func (s *Store) RevokeDevice(ctx context.Context, user, name string) (store.Device, error) {
	var d store.Device
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		id, r, err := activeDevice(tx, user, name)
		if err != nil {
			return err
		}
		if err := dropIndexes(tx, r); err != nil {
			return err
		}
		now := ms(s.now())
		r.Revoked = &now
		d = r.device(id)
		return putDevice(tx, id, r)
	})
	if err != nil {
		return store.Device{}, fmt.Errorf("store: revoke device %s/%s: %w", user, name, err)
	}
	return d, nil
}

func dropIndexes(tx *bbolt.Tx, r deviceRec) error {
	if err := tx.Bucket(bDevName).Delete(nameKey(r.User, r.Name)); err != nil {
		return err
	}
	if err := tx.Bucket(bDevKey).Delete([]byte(r.Key)); err != nil {
		return err
	}
	return tx.Bucket(bDevAddr).Delete([]byte(r.Addr))
}

// RekeyDevice replaces the active device's public key; its address stays.
func (s *Store) RekeyDevice(ctx context.Context, user, name, publicKey string) (store.Device, error) {
	if err := store.CheckKey(publicKey); err != nil {
		return store.Device{}, fmt.Errorf("store: rekey device %s/%s: %w", user, name, err)
	}
	var d store.Device
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		id, r, err := activeDevice(tx, user, name)
		if err != nil {
			return err
		}
		byKey := tx.Bucket(bDevKey)
		if o := byKey.Get([]byte(publicKey)); o != nil && binary.BigEndian.Uint64(o) != id {
			return fmt.Errorf("public key %s: %w", publicKey, store.ErrExists)
		}
		if err := byKey.Delete([]byte(r.Key)); err != nil {
			return err
		}
		r.Key = publicKey
		d = r.device(id)
		return putDevice(tx, id, r)
	})
	if err != nil {
		return store.Device{}, fmt.Errorf("store: rekey device %s/%s: %w", user, name, err)
	}
	return d, nil
}

// SetDeviceExpiry sets (or clears) when the active device user/name stops working.
func (s *Store) SetDeviceExpiry(ctx context.Context, user, name string, expires *time.Time) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		id, r, err := activeDevice(tx, user, name)
		if err != nil {
			return err
		}
		r.Expires = msp(expires)
		return put(tx.Bucket(bDevices), u64(id), r)
	})
	if err != nil {
		return fmt.Errorf("store: device %s/%s expiry: %w", user, name, err)
	}
	return nil
}

// Enrolment links.

// CreateEnrollment records a link for user's new device; tokenHash is
// the hash of the secret token (the token itself is never stored).
func (s *Store) CreateEnrollment(ctx context.Context, tokenHash, user, device string, expires time.Time) error {
	if err := store.ValidName(device); err != nil {
		return fmt.Errorf("store: create enrolment: %w", err)
	}
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bUsers).Get([]byte(user)) == nil {
			return fmt.Errorf("user %s: %w", user, store.ErrNotFound)
		}
		b := tx.Bucket(bEnroll)
		if b.Get(sk(tokenHash)) != nil {
			return store.ErrExists
		}
		id, err := b.NextSequence()
		if err != nil {
			return err
		}
		return put(b, sk(tokenHash), enrolRec{ID: id, User: user, Device: device, Created: ms(s.now()), Expires: ms(expires)})
	})
	if err != nil {
		return fmt.Errorf("store: create enrolment: %w", err)
	}
	return nil
}

// usable reads the link and says why it cannot be used, if so.
func (s *Store) usable(tx *bbolt.Tx, tokenHash string) (enrolRec, error) {
	r, ok, err := get[enrolRec](tx.Bucket(bEnroll), sk(tokenHash))
	switch {
	case err != nil:
		return r, err
	case !ok:
		return r, store.ErrNotFound
	case r.Used != nil:
		return r, store.ErrUsed
	case !s.now().Before(time.UnixMilli(r.Expires)):
		return r, store.ErrExpired
	}
	return r, nil
}

func (r enrolRec) enrollment() store.Enrollment {
	return store.Enrollment{User: r.User, Device: r.Device, Expires: time.UnixMilli(r.Expires)}
}

// claim marks the link used inside tx.
func (s *Store) claim(tx *bbolt.Tx, tokenHash, from string) (store.Enrollment, error) {
	r, err := s.usable(tx, tokenHash)
	if err != nil {
		return store.Enrollment{}, err
	}
	now := ms(s.now())
	r.Used, r.From = &now, from
	return r.enrollment(), put(tx.Bucket(bEnroll), sk(tokenHash), r)
}

// ClaimEnrollment marks the link used, once: a second claim, an expired
// link or an unknown token is an error (ErrUsed, ErrExpired, ErrNotFound).
func (s *Store) ClaimEnrollment(ctx context.Context, tokenHash, from string) (store.Enrollment, error) {
	var e store.Enrollment
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		var err error
		e, err = s.claim(tx, tokenHash, from)
		return err
	})
	if err != nil {
		return store.Enrollment{}, fmt.Errorf("store: enrolment link: %w", err)
	}
	return e, nil
}

// PeekEnrollment checks a link without using it up.
func (s *Store) PeekEnrollment(ctx context.Context, tokenHash string) (store.Enrollment, error) {
	var e store.Enrollment
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		r, err := s.usable(tx, tokenHash)
		e = r.enrollment()
		return err
	})
	if err != nil {
		return store.Enrollment{}, fmt.Errorf("store: enrolment link: %w", err)
	}
	return e, nil
}

// DDNS.

// DDNSAddr returns the address provider last accepted for family
// ("ipv4"/"ipv6"); the zero Addr if none.
func (s *Store) DDNSAddr(ctx context.Context, provider, family string) (netip.Addr, error) {
	var r ddnsRec
	var ok bool
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		r, ok, err = get[ddnsRec](tx.Bucket(bDDNS), sk(provider+"\x00"+family))
		return err
	})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("store: ddns state %s/%s: %w", provider, family, err)
	}
	if !ok {
		return netip.Addr{}, nil
	}
	return netip.ParseAddr(r.Addr)
}

// SetDDNSAddr records that provider accepted addr for family.
func (s *Store) SetDDNSAddr(ctx context.Context, provider, family string, addr netip.Addr, at time.Time) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		return put(tx.Bucket(bDDNS), sk(provider+"\x00"+family), ddnsRec{Addr: addr.String(), Updated: ms(at)})
	})
	if err != nil {
		return fmt.Errorf("store: save ddns state %s/%s: %w", provider, family, err)
	}
	return nil
}

func (r holdRec) hold() store.DDNSHold {
	h := store.DDNSHold{Fatal: r.Fatal, Reason: r.Reason, Fingerprint: r.Fingerprint, Updated: time.UnixMilli(r.Updated)}
	if r.Until != nil {
		h.BackoffUntil = time.UnixMilli(*r.Until)
	}
	return h
}

func holdRecord(h store.DDNSHold, updated time.Time) holdRec {
	r := holdRec{Fatal: h.Fatal, Reason: h.Reason, Fingerprint: h.Fingerprint, Updated: ms(updated)}
	if !h.BackoffUntil.IsZero() {
		r.Until = msp(&h.BackoffUntil)
	}
	return r
}

// DDNSHold returns provider's hold; the zero DDNSHold (and no error) if
// there is none.
func (s *Store) DDNSHold(ctx context.Context, provider string) (store.DDNSHold, error) {
	var h store.DDNSHold
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		r, ok, err := get[holdRec](tx.Bucket(bHolds), sk(provider))
		if ok {
			h = r.hold()
		}
		return err
	})
	if err != nil {
		return store.DDNSHold{}, fmt.Errorf("store: ddns hold %s: %w", provider, err)
	}
	return h, nil
}

// SetDDNSHold replaces provider's hold (h.Updated is set to now).
func (s *Store) SetDDNSHold(ctx context.Context, provider string, h store.DDNSHold) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		return put(tx.Bucket(bHolds), sk(provider), holdRecord(h, s.now()))
	})
	if err != nil {
		return fmt.Errorf("store: set ddns hold %s: %w", provider, err)
	}
	return nil
}

// ClearDDNSHold removes provider's hold; clearing none is not an error.
func (s *Store) ClearDDNSHold(ctx context.Context, provider string) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bHolds).Delete(sk(provider))
	})
	if err != nil {
		return fmt.Errorf("store: clear ddns hold %s: %w", provider, err)
	}
	return nil
}

// NextSessionEpoch returns a number no earlier call on this database
// returned (1, 2, 3, ... in one transaction, durable before it returns).
// After 2^32-1 starts it fails with ErrExhausted.
func (s *Store) NextSessionEpoch(ctx context.Context) (uint32, error) {
	var v uint64
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bCounters)
		if old := b.Get([]byte("session_epoch")); old != nil {
			v = binary.BigEndian.Uint64(old)
		}
		v++
		if v > math.MaxUint32 {
			return fmt.Errorf("%w: session epochs used up (%d)", store.ErrExhausted, v)
		}
		return b.Put([]byte("session_epoch"), u64(v))
	})
	if err != nil {
		return 0, fmt.Errorf("store: next session epoch: %w", err)
	}
	return uint32(v), nil
}
