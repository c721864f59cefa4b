package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/licgate/licgate/cmd/licgate/internal/clikit"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/flowgate"
	"github.com/licgate/licgate/gateway"
	"github.com/licgate/licgate/internal/licsim"
	"github.com/licgate/licgate/service"
)

func setupServe(fs *flag.FlagSet) clikit.RunFunc {
	cfgPath := fs.String("c", defaultConfig, "config `FILE`; missing means defaults")
	check := fs.Bool("check", false, "validate the config and its policy, print a summary and exit (starts nothing)")
	printRouting := fs.Bool("print-routing", false, "print the policy routing that services with source: tunnel need (to set it up by hand) and exit")
	return func(e *clikit.Env, _ []string) error {
		if *check {
			return checkConfig(e, *cfgPath)
		}
		if *printRouting {
			cfg, err := config.Load(*cfgPath)
			if err != nil {
				return err
			}
			if cfg.Tunnel.Forward { // the kernel forwards: no transparent sockets
				_, fr, err := flowgate.Plan(cfg.ForwardPorts(), cfg.SubnetPrefix(), cfg.Tunnel.Interface)
				if err != nil {
					return err
				}
				fmt.Fprint(e.Stdout, "# tunnel.forward: set up (licgate serve does this itself when it may):\n"+fr.Commands()+"# remove:\n"+fr.RemoveCommands())
				fmt.Fprintf(e.Stdout, "# services with source: tunnel need a route back on the license server (or the LAN router):\n#   ip route add %s via <this host's LAN address>\n", cfg.Tunnel.Subnet)
				return nil
			}
			r := gateway.Routing(cfg)
			fmt.Fprintln(e.Stdout, "# set up (licgate serve does this itself when it may):")
			for _, c := range r.Commands() {
				fmt.Fprintln(e.Stdout, c)
			}
			fmt.Fprintln(e.Stdout, "# remove:")
			for _, c := range r.RemoveCommands() {
				fmt.Fprintln(e.Stdout, c)
			}
			fmt.Fprintf(e.Stdout, "# and on the license server (or the LAN router), a route back to the tunnel subnet:\n#   Linux:   ip route add %s via <this host's LAN address>\n#   Windows: route -p add %s mask %s <this host's LAN address>\n",
				cfg.Tunnel.Subnet, cfg.SubnetPrefix().Masked().Addr(), net.IP(net.CIDRMask(cfg.SubnetPrefix().Bits(), 32)).String())
			return nil
		}
		return serve(e, *cfgPath)
	}
}

// serve runs the daemon until SIGINT/SIGTERM, or, under the Windows
// service manager, until the SCM stops it (logging to the Event Log).
func serve(e *clikit.Env, cfgPath string) error {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(e.Stderr, cfg.SlogLevel())
	if service.UnderServiceManager() {
		h, c, err := service.NewEventLogHandler("licgate", &slog.HandlerOptions{Level: cfg.SlogLevel()})
		if err == nil {
			defer c.Close()
			log = slog.New(h)
		}
		return service.RunWindows("licgate", func(ctx context.Context) error { return runDaemon(ctx, cfg, log) })
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runDaemon(ctx, cfg, log)
}

// runDaemon starts the gateway and serves until ctx ends; SIGHUP reloads.
func runDaemon(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	log.Info("config loaded", slog.String("file", cfg.File()), slog.String("version", versionLine()))
	mem := newMemoryLimit(log)
	defer mem.restore()
	mem.apply(cfg)
	g := gateway.New(cfg, log, gateway.WithOnReload(mem.apply))
	if err := g.Start(ctx); err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			// Reload logs its own outcome; a bad file leaves the old config in force.
			g.Reload(ctx)
			continue
		case <-ctx.Done():
		}
		break
	}
	log.Info("stopping")
	return g.Close()
}

// checkConfig is `serve --check`: the config loads (its policy compiles
// and passes its tests), or the error names file and line.
func checkConfig(e *clikit.Env, path string) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	if _, err := cfg.AdminToken(); err != nil {
		return err
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(e.Stderr, "warning: %s\n", w)
	}
	eng := cfg.Engine()
	names := make([]string, len(cfg.Services))
	for i, s := range cfg.Services {
		names[i] = s.Name
	}
	fmt.Fprintf(e.Stdout, "%s: ok: services %s; %d rules, %d groups, %d policy tests passed; tunnel %s on UDP %d; state in %s\n",
		cfg.File(), strings.Join(names, ", "), len(eng.Rules()), len(eng.Policy().GroupOrder), len(eng.Policy().Tests),
		cfg.Tunnel.Mode, cfg.ListenPort(), cfg.StateDir)
	return nil
}

func setupLicsim(fs *flag.FlagSet) clikit.RunFunc {
	listen := fs.String("listen", "127.0.0.1:22350", "TCP and UDP `ADDR`ess")
	seats := fs.Int("seats", 3, "number of licenses (`N`)")
	idle := fs.Duration("idle", 120*time.Second, "free a silent client's seat after this `DURATION`")
	name := fs.String("name", "licsim", "server `NAME` in discovery answers")
	return func(e *clikit.Env, _ []string) error {
		if *seats < 1 {
			return fmt.Errorf("--seats %d: at least 1", *seats)
		}
		s := &licsim.Server{Seats: *seats, IdleTimeout: *idle, Name: *name, Logger: newLogger(e.Stderr, slog.LevelDebug)}
		if err := s.Listen(*listen); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "licsim: %d seats on %s (tcp+udp); Ctrl-C to stop\n", *seats, s.Addr())
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		<-ctx.Done()
		return s.Close()
	}
}
