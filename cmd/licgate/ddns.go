package main

import (
	"flag"
	"fmt"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/ddns"
)

// setupDDNS is `ddns status`, or with update `ddns update --now`.
func setupDDNS(update bool) func(fs *flag.FlagSet) runFunc {
	return func(fs *flag.FlagSet) runFunc {
		now := new(bool)
		if update {
			now = fs.Bool("now", false, "check and update at once (required: says you mean it)")
		}
		return func(e *env, _ []string) error {
			if update && !*now {
				return usagef("ddns update needs --now (it checks and updates at once)")
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			var v adminapi.DDNSView
			if update {
				v, err = c.DDNSUpdate(e.ctx)
			} else {
				v, err = c.DDNS(e.ctx)
			}
			if err != nil {
				return err
			}
			if e.json {
				if v.Providers == nil {
					v.Providers = []ddns.Status{}
				}
				return printJSON(e.stdout, v)
			}
			if !v.Enabled {
				fmt.Fprintln(e.stdout, "ddns is not configured (set ddns.host and ddns.providers in licgate.yaml)")
				return nil
			}
			fmt.Fprintf(e.stdout, "host %s\n", v.Host)
			tw := newTable(e.stdout, "PROVIDER", "FAMILY", "DETECTED", "LAST ACCEPTED", "LAST SUCCESS", "NEXT ATTEMPT", "UPDATES", "ERRORS", "STATE")
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
				tw.row(s.Provider, s.Family, det, last, when(s.LastSuccess), when(s.NextAttempt), s.Updates, s.Errors, state)
			}
			return tw.flush()
		}
	}
}
