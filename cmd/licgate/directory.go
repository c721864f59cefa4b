package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/licgate/licgate/adminapi"

	"github.com/licgate/licgate/cmd/licgate/internal/clikit"
)

// setupDirectory is `licgate directory status` and `directory sync`.
func setupDirectory(sync bool) func(fs *flag.FlagSet) clikit.RunFunc {
	return func(fs *flag.FlagSet) clikit.RunFunc {
		return func(e *clikit.Env, _ []string) error {
			c, err := e.Client()
			if err != nil {
				return err
			}
			var v adminapi.DirectoryView
			if sync {
				v, err = c.DirectorySync(e.Ctx)
			} else {
				v, err = c.Directory(e.Ctx)
			}
			if err != nil {
				return err
			}
			if e.JSON {
				return clikit.PrintJSON(e.Stdout, v)
			}
			if !v.Enabled {
				fmt.Fprintln(e.Stdout, "no directory is configured (directory.url in licgate.yaml)")
				return nil
			}
			if sync {
				fmt.Fprintln(e.Stdout, "sync requested; the result follows in the log and in `licgate directory status`")
			}
			state := "current"
			if v.Stale {
				state = "STALE: the last good snapshot stays in force"
			}
			fmt.Fprintf(e.Stdout, "directory: %s; %d users, %d groups\n", state, v.Users, v.Groups)
			if !v.LastSuccess.IsZero() {
				fmt.Fprintf(e.Stdout, "last good sync: %s\n", v.LastSuccess.Format(time.DateTime))
			}
			if v.LastError != "" {
				fmt.Fprintf(e.Stdout, "last error: %s\n", v.LastError)
			}
			if h := v.Held; h != nil {
				fmt.Fprintf(e.Stdout, "HELD BACK: a snapshot read %s would take rights from %d of %d users at once "+
					"(%d removed, %d disabled, %d out of a group; the limit is %d): %s\n",
					h.Read.Format(time.DateTime), h.Affected, h.Last, h.Removed, h.Disabled, h.Ungrouped, h.Limit, strings.Join(h.Names, ", "))
				fmt.Fprintln(e.Stdout, "the last good snapshot stays in force; if the change is real: licgate directory accept")
			}
			return nil
		}
	}
}

// setupDirectoryAccept is `licgate directory accept`.
func setupDirectoryAccept(fs *flag.FlagSet) clikit.RunFunc {
	return func(e *clikit.Env, _ []string) error {
		c, err := e.Client()
		if err != nil {
			return err
		}
		h, err := c.DirectoryAccept(e.Ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "accepted: %d of %d users lost rights (%d removed, %d disabled, %d out of a group): %s\n",
			h.Affected, h.Last, h.Removed, h.Disabled, h.Ungrouped, strings.Join(h.Names, ", "))
		return nil
	}
}
