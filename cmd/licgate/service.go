package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"

	"github.com/licgate/licgate/buildinfo"
	"github.com/licgate/licgate/cmd/licgate/internal/clikit"
	"github.com/licgate/licgate/service"
)

// setupService is `licgate service install|uninstall|start|stop|status`:
// the platform's service manager (systemd, the Windows SCM, launchd, rc.d).
func setupService(action string) func(fs *flag.FlagSet) clikit.RunFunc {
	return func(fs *flag.FlagSet) clikit.RunFunc {
		cfgPath := fs.String("c", "", "config `FILE` the service runs with (default "+service.Paths().Config+")")
		return func(e *clikit.Env, _ []string) error {
			cfg := service.Config{Log: slog.New(slog.NewTextHandler(e.Stderr, nil))}
			if *cfgPath != "" {
				cfg.Args = []string{"serve", "-c", *cfgPath}
			}
			m, err := service.New(cfg)
			if err != nil {
				return err
			}
			ctx := context.Background()
			switch action {
			case "install":
				err = m.Install(ctx)
			case "uninstall":
				err = m.Uninstall(ctx)
			case "start":
				err = m.Start(ctx)
			case "stop":
				err = m.Stop(ctx)
			case "status":
				var st service.Status
				if st, err = m.Status(ctx); err == nil {
					fmt.Fprintln(e.Stdout, st)
				}
			}
			if err == nil && action != "status" {
				fmt.Fprintf(e.Stdout, "service %s: done\n", action)
			}
			return err
		}
	}
}

func setupVersion(fs *flag.FlagSet) clikit.RunFunc {
	asJSON := fs.Bool("json", false, "print the build as JSON")
	return func(e *clikit.Env, _ []string) error {
		if *asJSON {
			b, err := json.MarshalIndent(buildinfo.Get(), "", "  ")
			if err != nil {
				return err
			}
			fmt.Fprintln(e.Stdout, string(b))
			return nil
		}
		fmt.Fprintln(e.Stdout, versionLine())
		return nil
	}
}

// versionLine describes this build: version, commit, Go version, target.
func versionLine() string { return buildinfo.Get().String() }
