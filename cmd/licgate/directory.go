package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/licgate/licgate/adminapi"
)

// setupDirectory is `licgate directory status` and `directory sync`.
func setupDirectory(sync bool) func(fs *flag.FlagSet) runFunc {
	return func(fs *flag.FlagSet) runFunc {
		return func(e *env, _ []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			var v adminapi.DirectoryView
			if sync {
				v, err = c.DirectorySync(e.ctx)
			} else {
				v, err = c.Directory(e.ctx)
			}
			if err != nil {
				return err
			}
			if e.json {
				return printJSON(e.stdout, v)
			}
			if !v.Enabled {
				fmt.Fprintln(e.stdout, "no directory is configured (directory.url in licgate.yaml)")
				return nil
			}
			if sync {
				fmt.Fprintln(e.stdout, "sync requested; the result follows in the log and in `licgate directory status`")
			}
			state := "current"
			if v.Stale {
				state = "STALE: the last good snapshot stays in force"
			}
			fmt.Fprintf(e.stdout, "directory: %s; %d users, %d groups\n", state, v.Users, v.Groups)
			if !v.LastSuccess.IsZero() {
				fmt.Fprintf(e.stdout, "last good sync: %s\n", v.LastSuccess.Format(time.DateTime))
			}
			if v.LastError != "" {
				fmt.Fprintf(e.stdout, "last error: %s\n", v.LastError)
			}
			if h := v.Held; h != nil {
				fmt.Fprintf(e.stdout, "HELD BACK: a snapshot read %s would take rights from %d of %d users at once "+
					"(%d removed, %d disabled, %d out of a group; the limit is %d): %s\n",
					h.Read.Format(time.DateTime), h.Affected, h.Last, h.Removed, h.Disabled, h.Ungrouped, h.Limit, strings.Join(h.Names, ", "))
				fmt.Fprintln(e.stdout, "the last good snapshot stays in force; if the change is real: licgate directory accept")
			}
			return nil
		}
	}
}

// setupDirectoryAccept is `licgate directory accept`.
func setupDirectoryAccept(fs *flag.FlagSet) runFunc {
	return func(e *env, _ []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		h, err := c.DirectoryAccept(e.ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "accepted: %d of %d users lost rights (%d removed, %d disabled, %d out of a group): %s\n",
			h.Affected, h.Last, h.Removed, h.Disabled, h.Ungrouped, strings.Join(h.Names, ", "))
		return nil
	}
}
