package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/config"

	"go.yaml.in/yaml/v3"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/cmd/licgate/internal/clikit"
	"github.com/licgate/licgate/internal/boundedfile"
)

// loadPolicyFile compiles FILE, which is either a licgate.yaml (its
// policy or policy_file) or a policy file on its own.
func loadPolicyFile(path, services string) (*acl.Engine, []string, error) {
	data, err := boundedfile.Read(path, boundedfile.Config)
	if err != nil {
		return nil, nil, err
	}
	var top map[string]yaml.Node
	if yaml.Unmarshal(data, &top) == nil {
		_, hasPolicy := top["policy"]
		_, hasFile := top["policy_file"]
		_, hasTunnel := top["tunnel"]
		_, hasServices := top["services"]
		if hasPolicy || hasFile || hasTunnel || (hasServices && top["services"].Kind == yaml.SequenceNode) {
			cfg, err := config.Parse(path, data)
			if err != nil {
				return nil, nil, err
			}
			return cfg.Engine(), cfg.Warnings(), nil
		}
	}
	pol, err := acl.Parse(path, data)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	if services != "" {
		names = strings.Split(services, ",")
	}
	eng, ws, err := acl.Compile(pol, names)
	if err != nil {
		return nil, nil, err
	}
	var warns []string
	for _, w := range ws {
		warns = append(warns, fmt.Sprintf("%s:%d: %s", path, w.Line, w.Message))
	}
	return eng, warns, nil
}

func setupPolicyCheck(fs *flag.FlagSet) clikit.RunFunc {
	services := fs.String("services", "", "`LIST` of services the gateway serves, comma-separated (policy files only)")
	return func(e *clikit.Env, args []string) error {
		eng, warns, err := loadPolicyFile(args[0], *services)
		if err != nil {
			return err
		}
		for _, w := range warns {
			fmt.Fprintf(e.Stdout, "warning: %s\n", w)
		}
		fmt.Fprintf(e.Stdout, "%s: ok: %d rules, %d groups, %d tests passed (time zone %s)\n", args[0], len(eng.Rules()),
			len(eng.Policy().GroupOrder), len(eng.Policy().Tests), eng.Location())
		return nil
	}
}

func setupPolicyExplain(fs *flag.FlagSet) clikit.RunFunc {
	user := fs.String("user", "", "the `USER` to explain (required)")
	device := fs.String("device", "", "the user's `DEVICE`")
	service := fs.String("service", "", "the `SERVICE` to explain (required)")
	at := fs.String("at", "", "the `TIME` to explain (default now), e.g. 2026-12-01T20:00")
	file := fs.String("file", "", "explain against this policy or config `FILE` instead of the daemon's")
	services := fs.String("services", "", "with --file: services the gateway serves, comma-separated (policy files only)")
	asJSON := fs.Bool("json", false, "print the decision as JSON")
	return func(e *clikit.Env, _ []string) error {
		if *user == "" || *service == "" {
			return clikit.Usagef("--user and --service are required")
		}
		if err := clikit.ValidName("user", *user); err != nil {
			return err
		}
		if *device != "" {
			if err := clikit.ValidName("device", *device); err != nil {
				return err
			}
		}
		req := adminapi.ExplainRequest{User: *user, Device: *device, Service: *service, At: *at}
		var res adminapi.ExplainResult
		if *file != "" {
			eng, _, err := loadPolicyFile(*file, *services)
			if err != nil {
				return err
			}
			if res, err = adminapi.ExplainWith(eng, req, time.Now()); err != nil {
				return err
			}
		} else {
			c, err := e.Client()
			if err != nil {
				return err
			}
			if res, err = c.Explain(e.Ctx, req); err != nil {
				return err
			}
		}
		if *asJSON {
			return clikit.PrintJSON(e.Stdout, res)
		}
		fmt.Fprint(e.Stdout, res.Explain)
		return nil
	}
}

func setupPolicyShow(fs *flag.FlagSet) clikit.RunFunc {
	return func(e *clikit.Env, _ []string) error {
		c, err := e.Client()
		if err != nil {
			return err
		}
		v, err := c.Policy(e.Ctx)
		if err != nil {
			return err
		}
		if e.JSON {
			return clikit.PrintJSON(e.Stdout, v)
		}
		fmt.Fprintf(e.Stdout, "policy from %s, time zone %s\n", v.File, v.TimeZone)
		tw := clikit.NewTable(e.Stdout, "#", "ACTION", "WHO", "SERVICES", "HOURS", "DATES", "CAPS", "NAME")
		for _, r := range v.Rules {
			dates := ""
			if r.From != "" || r.Until != "" {
				dates = r.From + ".." + r.Until
			}
			svcs := strings.Join(r.Services, ",")
			if svcs == "" {
				svcs = "all"
			}
			tw.Row(r.Index, r.Action, strings.Join(r.Who, ","), svcs, strings.Join(r.Hours, "; "), dates, r.Caps, r.Name)
		}
		tw.Flush()
		if len(v.Rules) == 0 {
			fmt.Fprintln(e.Stdout, "no rules: every connection is denied")
		}
		for _, w := range v.Warnings {
			fmt.Fprintf(e.Stdout, "warning: %s\n", w)
		}
		return nil
	}
}

func setupPolicyReload(fs *flag.FlagSet) clikit.RunFunc {
	asJSON := fs.Bool("json", false, "print the result as JSON")
	return func(e *clikit.Env, _ []string) error {
		c, err := e.Client()
		if err != nil {
			return err
		}
		r, err := c.Reload(e.Ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			if r.RestartNeeded == nil {
				r.RestartNeeded = []string{}
			}
			return clikit.PrintJSON(e.Stdout, r)
		}
		fmt.Fprintf(e.Stdout, "policy reloaded; %d live session(s) no longer allowed were cut\n", r.SessionsCut)
		if len(r.RestartNeeded) > 0 {
			fmt.Fprintf(e.Stdout, "restart needed: %s changed and take(s) effect only after `sudo systemctl restart licgate`\n",
				strings.Join(r.RestartNeeded, ", "))
		}
		return nil
	}
}

func setupReport(fs *flag.FlagSet) clikit.RunFunc {
	from := fs.String("from", "7d", "start `T`: a date, date and time, RFC 3339, or a span back like 30d")
	to := fs.String("to", "", "end `T` (default now)")
	by := fs.String("by", "user", "rows by `KEY`: user, group, service or product (seats: peak, time at the limit, never used)")
	format := fs.String("format", "table", "output `FORMAT`: table, csv or json")
	asJSON := fs.Bool("json", false, "the same as --format json")
	hourly := fs.Bool("hourly", false, "also print peak concurrency per hour (table format)")
	return func(e *clikit.Env, _ []string) error {
		if *asJSON {
			*format = "json"
		}
		if *format != "table" && *format != "csv" && *format != "json" {
			return fmt.Errorf("--format %q: use table, csv or json", *format)
		}
		if *by != "user" && *by != "group" && *by != "service" && *by != "product" {
			return fmt.Errorf("--by %q: use user, group, service or product", *by)
		}
		if err := clikit.ValidReportTime("--from", *from); err != nil {
			return err
		}
		if *to != "" {
			if err := clikit.ValidReportTime("--to", *to); err != nil {
				return err
			}
		}
		c, err := e.Client()
		if err != nil {
			return err
		}
		rep, err := c.Report(e.Ctx, adminapi.ReportQuery{From: *from, To: *to, By: *by})
		if err != nil {
			return err
		}
		return printReport(e.Stdout, rep, *format, *hourly)
	}
}

func printReport(stdout io.Writer, rep *audit.Report, format string, hourly bool) error {
	switch format {
	case "json":
		return clikit.PrintJSON(stdout, rep)
	case "csv":
		return rep.WriteCSV(stdout)
	}
	return rep.WriteText(stdout, hourly)
}
