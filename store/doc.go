// Package store is the contract of licgate's state: users, devices,
// enrolment links, the audit log, DDNS state and the session epoch. It
// holds the Backend interface (every method's rules), the row types, the
// sentinel errors, validation (ValidName, ValidEmail, CheckKey), address
// allocation (Pool, with the quarantine of revoked addresses), the
// state-directory checks and Copy; it opens no database itself.
//
// The backends are packages of their own, each behind Backend and held
// to it by the suite in store/storetest:
//
//   - store/sqlite: SQLite with versioned migrations (the default), driver
//     github.com/ncruces/go-sqlite3 (pure Go, no cgo, every target); WAL
//     with synchronous=FULL, so a crash loses nothing committed.
//   - store/bolt: go.etcd.io/bbolt, for the router build: no SQL engine
//     (9 MB less on linux/mipsle), one process at a time, every commit
//     fsynced, the audit log in time-ordered buckets.
//   - store/postgres: PostgreSQL through pgx, for a cluster of gateways
//     (left out by licgate_omit_postgres).
//
// store/sqlite and store/postgres share their SQL row scanning, export
// and import rows and the device-adding steps (store/internal/sqlrow).
// store/local opens the backend of the state directory (bbolt with the
// licgate_store_bolt tag, SQLite otherwise); store/open opens what a
// configuration names (local or PostgreSQL) for the daemon and the CLI.
//
// A device's private key is never stored: only its public key, always in
// canonical form (standard base64 of 32 bytes, 44 characters), and its
// tunnel address.
//
// Typical usage:
//
//	st, err := local.Open(ctx, "/var/lib/licgate")
//	if err != nil { ... } // names the state directory when it is read-only or full
//	defer st.Close()
//	epoch, err := st.NextSessionEpoch(ctx) // once per start: session IDs are epoch<<32 | counter
//	u, err := st.AddUser(ctx, "alice", "alice@example.com")
//	d, err := st.AddDevice(ctx, store.NewDevice{User: "alice", Name: "laptop", PublicKey: pub}, pool)
package store
