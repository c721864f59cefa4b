package main

import (
	"flag"
	"fmt"
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
			return nil
		}
	}
}
