// Package store is licgate's state: users, devices, enrolment links, the
// audit log, DDNS state and the session epoch, in SQLite with versioned
// migrations. The driver is github.com/ncruces/go-sqlite3 (SQLite
// translated to pure Go by wasm2go), which builds without cgo for every
// target licgate ships: linux amd64/arm64/arm/mips/mipsle, windows,
// darwin and freebsd.
//
// Every write is one transaction; the database runs in WAL mode with
// synchronous=FULL, so a crash loses nothing that was committed.
//
// Built with the licgate_store_bolt tag (the router build), the same API
// (Open, FileName, *Store with every Backend method, Copy) is backed by
// go.etcd.io/bbolt instead and no SQL engine is linked: 9 MB less on
// linux/mipsle. The file is licgate.bolt, not licgate.db; bbolt fsyncs
// every commit; the audit log is kept in time-ordered buckets with an
// end-time index for sessions, so reports read only the range asked for.
// Files ending in _sqlite.go are the SQLite backend, bolt*.go the bbolt
// one; the rest (types, errors, ValidName, CheckKey, allocation, Copy) is
// shared.
//
// A device's private key is never stored: only its public key, always in
// canonical form (standard base64 of 32 bytes, 44 characters), and its
// tunnel address.
//
// Backend is the contract of every method; *Store is the SQLite backend
// (the bbolt one with licgate_store_bolt, which locks its file: one
// process at a time, Open waits 5 s for another holder).
//
// Typical usage:
//
//	st, err := store.Open(ctx, "/var/lib/licgate")
//	if err != nil { ... } // names the state directory when it is read-only or full
//	defer st.Close()
//	epoch, err := st.NextSessionEpoch(ctx) // once per start: session IDs are epoch<<32 | counter
//	u, err := st.AddUser(ctx, "alice", "alice@example.com")
//	d, err := st.AddDevice(ctx, store.NewDevice{User: "alice", Name: "laptop", PublicKey: pub}, pool)
package store
