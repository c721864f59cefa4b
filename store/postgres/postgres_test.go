//go:build !licgate_omit_postgres

package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/postgres"
	"github.com/licgate/licgate/store/postgres/pgtest"
)

// TestMigrationsOnceUnderLock: gateways starting at once on an empty
// database migrate it once; a schema from a newer licgate is refused.
func TestMigrationsOnceUnderLock(t *testing.T) {
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			stores[i], errs[i] = postgres.Open(ctx, dsn, nil)
		}(i)
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("open %d: %v", i, errs[i])
		}
		defer stores[i].Close()
	}
	if v, err := stores[0].Version(ctx); err != nil || v != store.SchemaVersion() || postgres.SchemaVersion() != store.SchemaVersion() {
		t.Fatalf("version %d %v, want %d (postgres knows %d)", v, err, store.SchemaVersion(), postgres.SchemaVersion())
	}
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var rows int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM licgate_schema`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("schema rows %d %v", rows, err)
	}
	if _, err := c.Exec(ctx, `UPDATE licgate_schema SET version = version + 1`); err != nil {
		t.Fatal(err)
	}
	if s, err := postgres.Open(ctx, dsn, nil); err == nil {
		s.Close()
		t.Fatal("opened a database newer than the code")
	}
}

// TestUnreachableAndBadDSN: errors name the problem, no hang.
func TestUnreachableAndBadDSN(t *testing.T) {
	ctx := context.Background()
	if _, err := postgres.Open(ctx, "host=/nonexistent port=1 user=x dbname=x connect_timeout=2", nil); err == nil {
		t.Fatal("opened an unreachable server")
	}
	if _, err := postgres.Open(ctx, "postgres://%zz", nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad dsn: %v", err)
	}
}
