// Package pgtest starts a real PostgreSQL server for tests: Debian's
// postgresql package (the binaries in /usr/lib/postgresql/N/bin), an
// initdb into a temporary directory, a unix socket in that directory
// (and, with TCP, 127.0.0.1 on a free port), and pg_ctl stop on cleanup.
//
// PostgreSQL refuses to run as root, so when the test runs as root the
// server runs as the "postgres" user (or "nobody") through setpriv.
// Under CI=true a missing PostgreSQL fails the test (testnet.Missing);
// elsewhere the test is skipped.
//
// Typical usage:
//
//	srv := pgtest.Start(t)        // one server for the test and its subtests
//	dsn := srv.NewDatabase(t)     // a fresh, empty database
//	st, err := postgres.Open(ctx, dsn, nil)
package pgtest
