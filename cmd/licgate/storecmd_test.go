//go:build !licgate_store_bolt && !licgate_omit_postgres

// The fixture is a SQLite state.db: this test needs the SQLite build.

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licgate/licgate/store/postgres"
	"github.com/licgate/licgate/store/postgres/pgtest"
	"github.com/licgate/licgate/store/sqlite"
)

// TestStoreMigrateToPostgres copies a populated state.db (made by an
// earlier release) into a real PostgreSQL and finds every user and
// device there.
func TestStoreMigrateToPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	dir := t.TempDir()
	src, err := os.Open("../../store/sqlite/testdata/state-v5.db")
	if err != nil {
		t.Fatal(err)
	}
	dst, _ := os.Create(filepath.Join(dir, sqlite.FileName))
	io.Copy(dst, src)
	src.Close()
	dst.Close()
	cfg := filepath.Join(dir, "licgate.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("state_dir: %s\n", dir)), 0o600)
	dsnFile := filepath.Join(dir, "dsn")
	os.WriteFile(dsnFile, []byte(dsn+"\n"), 0o600)
	out, code := cli(t, "store", "migrate", "--to", "postgres", "--dsn-file", dsnFile, "-c", cfg)
	if code != 0 || !strings.Contains(out, "copied and verified") {
		t.Fatalf("migrate: %d %s", code, out)
	}
	ctx := context.Background()
	sq, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	p, err := postgres.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, all := range []bool{false, true} {
		a, _ := sq.Devices(ctx, all)
		b, _ := p.Devices(ctx, all)
		if len(a) == 0 || len(a) != len(b) {
			t.Fatalf("devices (all=%v): sqlite %d, postgres %d", all, len(a), len(b))
		}
	}
	ua, _ := sq.Users(ctx)
	ub, _ := p.Users(ctx)
	if len(ua) == 0 || len(ua) != len(ub) {
		t.Fatalf("users: %d vs %d", len(ua), len(ub))
	}
	// A second run refuses: the target is not empty.
	if out, code := cli(t, "store", "migrate", "--to", "postgres", "--dsn-file", dsnFile, "-c", cfg); code == 0 {
		t.Fatalf("migrating into a non-empty database: %s", out)
	}
}
