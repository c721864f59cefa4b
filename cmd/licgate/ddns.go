package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/licgate/licgate/adminapi"
)

func cmdDDNS(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("ddns", flag.ContinueOnError)
	client := clientFlags(fs)
	now := fs.Bool("now", false, "with update: check and update at once")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "status" && pos[0] != "update" {
		return errors.New("usage: licgate ddns status | update --now")
	}
	c, err := client()
	if err != nil {
		return err
	}
	var v adminapi.DDNSView
	if pos[0] == "update" {
		if !*now {
			return errors.New("usage: licgate ddns update --now (forces a check now)")
		}
		err = c.Do(context.Background(), "POST", "/api/v1/ddns/update", nil, &v)
	} else {
		err = c.Do(context.Background(), "GET", "/api/v1/ddns", nil, &v)
	}
	if err != nil {
		return err
	}
	if !v.Enabled {
		fmt.Fprintln(stdout, "ddns is not configured (set ddns.host and ddns.providers in licgate.yaml)")
		return nil
	}
	fmt.Fprintf(stdout, "host %s\n", v.Host)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROVIDER\tFAMILY\tDETECTED\tLAST ACCEPTED\tLAST SUCCESS\tNEXT ATTEMPT\tUPDATES\tERRORS\tSTATE")
	for _, s := range v.Providers {
		when := func(t *time.Time) string {
			if t == nil {
				return "-"
			}
			return t.Local().Format(time.DateTime)
		}
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", s.Provider, s.Family, det, last, when(s.LastSuccess), when(s.NextAttempt), s.Updates, s.Errors, state)
	}
	return tw.Flush()
}
