package storetest_test

import (
	"context"
	"testing"

	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/postgres"
	"github.com/licgate/licgate/store/postgres/pgtest"
	"github.com/licgate/licgate/store/sqlite"
	"github.com/licgate/licgate/store/storetest"
)

// TestSQLite runs the contract against store/sqlite (store/bolt runs it
// in its own tests, TestBoltContract).
func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Backend {
		b, err := sqlite.Open(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}

// TestPostgres runs the same contract against a real PostgreSQL.
func TestPostgres(t *testing.T) {
	srv := pgtest.Start(t)
	storetest.Run(t, func(t *testing.T) store.Backend {
		b, err := postgres.Open(context.Background(), srv.NewDatabase(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}
