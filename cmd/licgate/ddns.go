package main

import (
	"flag"
	"fmt"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/cmd/licgate/internal/clikit"
	"github.com/licgate/licgate/ddns"
)

// setupDDNS is `ddns status`, or with update `ddns update --now`.
func setupDDNS(update bool) func(fs *flag.FlagSet) clikit.RunFunc {
	return func(fs *flag.FlagSet) clikit.RunFunc {
		now := new(bool)
		if update {
			now = fs.Bool("now", false, "check and update at once (required: says you mean it)")
		}
		return func(e *clikit.Env, _ []string) error {
			if update && !*now {
				return clikit.Usagef("ddns update needs --now (it checks and updates at once)")
			}
			c, err := e.Client()
			if err != nil {
				return err
			}
			var v adminapi.DDNSView
			if update {
				v, err = c.DDNSUpdate(e.Ctx)
			} else {
				v, err = c.DDNS(e.Ctx)
			}
			if err != nil {
				return err
			}
			if e.JSON {
				if v.Providers == nil {
					v.Providers = []ddns.Status{}
				}
				return clikit.PrintJSON(e.Stdout, v)
			}
			if !v.Enabled {
				fmt.Fprintln(e.Stdout, "ddns is not configured (set ddns.host and ddns.providers in licgate.yaml)")
				return nil
			}
			fmt.Fprintf(e.Stdout, "host %s\n", v.Host)
			tw := clikit.NewTable(e.Stdout, "PROVIDER", "FAMILY", "DETECTED", "LAST ACCEPTED", "LAST SUCCESS", "NEXT ATTEMPT", "UPDATES", "ERRORS", "STATE")
			for _, s := range v.Providers {
				state := "ok"
				if s.Stopped {
					state = "STOPPED: " + s.LastError
				} else if s.LastError != "" {
					state = "retrying: " + s.LastError
				}
				det, last := "-", "-"
				if s.Detected.IsValid() {
					det = s.Detected.String()
				}
				if s.LastAddr.IsValid() {
					last = s.LastAddr.String()
				}
				tw.Row(s.Provider, s.Family, det, last, clikit.When(s.LastSuccess), clikit.When(s.NextAttempt), s.Updates, s.Errors, state)
			}
			return tw.Flush()
		}
	}
}
