// Package postgres is the PostgreSQL backend of licgate's state
// (store.Backend), for a site where several gateways share one database.
// It keeps the SQLite backend's schema and semantics: the same tables and
// columns (times as Unix milliseconds or microseconds), the same
// versioned migrations, the same error sentinels (a unique violation,
// SQLSTATE 23505, is store.ErrExists; a full disk or read-only server is
// store.ErrStateDir).
//
// Migrations run once, by whichever gateway takes the migration lock
// first (a transaction-scoped pg_advisory_xact_lock): the others wait for
// it and then find the schema current. Address allocation and device key
// changes take a second advisory lock so that two gateways adding devices
// at once never hand out one address; enrolment claims lock their row.
//
// The driver is github.com/jackc/pgx/v5 through pgxpool. Pool exposes the
// pool so that package cluster (shared sessions, change notification,
// the shared WireGuard key) works on the same connections.
//
// Built with licgate_omit_postgres (the router build), pgx is left out:
// Open and ReadDSNFile fail with ErrOmitted, naming the tag.
//
// Typical usage:
//
//	dsn, err := postgres.ReadDSNFile("/etc/licgate/postgres.dsn")
//	st, err := postgres.Open(ctx, dsn, logger)
//	if err != nil { ... }
//	defer st.Close()
//	var b store.Backend = st
//	u, err := b.AddUser(ctx, "alice", "alice@example.com")
package postgres
