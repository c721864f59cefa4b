package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/cmd/licgate/internal/clikit"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/internal/confval"
	"github.com/licgate/licgate/office"
	"github.com/licgate/licgate/store"
)

// daemonClient builds the API client the way clientFlags does, for
// commands that also need the config itself.
func daemonClient(cfg *config.Config, socket string) *adminapi.Client {
	if socket == "" {
		socket = os.Getenv("LICGATE_SOCKET")
	}
	if socket == "" {
		socket = cfg.Socket
	}
	return adminapi.NewClient(socket)
}

// setupInvite is `licgate invite USER... | --group G | --all`.
func setupInvite(fs *flag.FlagSet) clikit.RunFunc {
	cfgPath := fs.String("c", defaultConfig, "config `FILE` (smtp settings, socket)")
	socket := fs.String("socket", "", "admin API socket `PATH` (overrides the config; also $LICGATE_SOCKET)")
	group := fs.String("group", "", "invite every member of policy `GROUP`")
	all := fs.Bool("all", false, "invite every enabled user who has no device yet")
	force := fs.Bool("force", false, "with --all or --group: also users who have a device (with an e-mail address)")
	device := fs.String("device", "home", "`NAME` of the device each link creates")
	ttl := fs.String("ttl", "", "how long the links work (default public.link_ttl, at most 30d)")
	csvOut := fs.String("csv", "", "also write name,email,link to `FILE`")
	return func(e *clikit.Env, users []string) error {
		if (len(users) > 0) == (*group != "" || *all) || (*group != "" && *all) {
			return clikit.Usagef("name users, or --group G, or --all (one of them)")
		}
		if err := store.ValidName(*device); err != nil {
			return fmt.Errorf("--device: %w", err)
		}
		var d time.Duration
		if *ttl != "" {
			var err error
			if d, err = confval.ParseDuration(*ttl); err != nil || d <= 0 || d > 30*24*time.Hour {
				return fmt.Errorf("--ttl %q: a duration up to 30d", *ttl)
			}
		}
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			return err
		}
		return office.Invite(e.Ctx, office.InviteOptions{Config: cfg, Client: daemonClient(cfg, *socket), Users: users, Group: *group,
			All: *all, Force: *force, Device: *device, TTL: d, CSV: *csvOut, Stdout: e.Stdout, Stderr: e.Stderr})
	}
}

// setupUserImport is `licgate user import FILE.csv`.
func setupUserImport(fs *flag.FlagSet) clikit.RunFunc {
	return func(e *clikit.Env, args []string) error {
		c, err := e.Client()
		if err != nil {
			return err
		}
		cfgPath := ""
		if f := fs.Lookup("c"); f != nil {
			cfgPath = f.Value.String()
		}
		return office.ImportUsers(e.Ctx, c, args[0], cfgPath, e.Stdout)
	}
}
