package main

import (
	"flag"
	"fmt"
	"log/slog"

	"github.com/licgate/licgate/cmd/licgate/internal/clikit"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/local"
	"github.com/licgate/licgate/store/postgres"
)

// setupStoreMigrate is `licgate store migrate --to postgres --dsn-file F`:
// copies the SQLite state into PostgreSQL (which must be empty), then
// checks every row arrived. Run it with the daemon stopped.
func setupStoreMigrate(fs *flag.FlagSet) clikit.RunFunc {
	cfgPath := fs.String("c", defaultConfig, "config `FILE` (its state_dir holds the SQLite state)")
	to := fs.String("to", "", "target: postgres")
	dsnFile := fs.String("dsn-file", "", "`FILE` with the PostgreSQL connection string")
	return func(e *clikit.Env, _ []string) error {
		if *to != "postgres" {
			return clikit.Usagef("--to postgres is the one target")
		}
		if *dsnFile == "" {
			return clikit.Usagef("--dsn-file is required")
		}
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			return err
		}
		if cfg.Store.Driver == "postgres" {
			return fmt.Errorf("%s already uses postgres", cfg.File())
		}
		dsn, err := postgres.ReadDSNFile(*dsnFile)
		if err != nil {
			return err
		}
		src, err := local.Open(e.Ctx, cfg.StateDir)
		if err != nil {
			return err
		}
		defer src.Close()
		dst, err := postgres.Open(e.Ctx, dsn, slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
		if err != nil {
			return err
		}
		defer dst.Close()
		n, err := store.Copy(e.Ctx, dst, src)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "copied and verified: %d users, %d devices, %d enrolment links, %d sessions, %d denials, %d events, %d ddns states, %d ddns holds\n",
			n.Users, n.Devices, n.Enrollments, n.Sessions, n.Denials, n.Events, n.DDNS, n.Holds)
		fmt.Fprintf(e.Stdout, "now set in %s:\n  store:\n    driver: postgres\n    dsn_file: %s\nand start licgate; the SQLite file stays as it was.\n", cfg.File(), *dsnFile)
		return nil
	}
}
