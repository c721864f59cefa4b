package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/config"

	"go.yaml.in/yaml/v3"

	"github.com/licgate/licgate/acl"
)

// loadPolicyFile compiles FILE, which is either a licgate.yaml (its
// policy or policy_file) or a policy file on its own.
func loadPolicyFile(path, services string) (*acl.Engine, []string, error) {
	data, err := os.ReadFile(path)
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

func cmdPolicy(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("policy", flag.ContinueOnError)
	client := clientFlags(fs)
	services := fs.String("services", "", "services the gateway serves, comma-separated (policy files only)")
	user := fs.String("user", "", "user to explain")
	device := fs.String("device", "", "device to explain")
	service := fs.String("service", "", "service to explain")
	at := fs.String("at", "", "time to explain (default now), e.g. 2026-12-01T20:00")
	file := fs.String("file", "", "explain against this policy or config file instead of the daemon")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return errors.New("usage: licgate policy check FILE | show | reload | explain --user U --service S [--at T]")
	}
	ctx := context.Background()
	switch pos[0] {
	case "check":
		if len(pos) != 2 {
			return errors.New("usage: licgate policy check FILE [--services a,b]")
		}
		eng, warns, err := loadPolicyFile(pos[1], *services)
		if err != nil {
			return err
		}
		for _, w := range warns {
			fmt.Fprintf(stdout, "warning: %s\n", w)
		}
		fmt.Fprintf(stdout, "%s: ok: %d rules, %d groups, %d tests passed (time zone %s)\n", pos[1], len(eng.Rules()),
			len(eng.Policy().GroupOrder), len(eng.Policy().Tests), eng.Location())
	case "explain":
		if *user == "" || *service == "" {
			return errors.New("usage: licgate policy explain --user U [--device D] --service S [--at TIME] [--file F]")
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
			c, err := client()
			if err != nil {
				return err
			}
			if err := c.Do(ctx, "POST", "/api/v1/policy/explain", req, &res); err != nil {
				return err
			}
		}
		fmt.Fprint(stdout, res.Explain)
	case "show":
		c, err := client()
		if err != nil {
			return err
		}
		var v adminapi.PolicyView
		if err := c.Do(ctx, "GET", "/api/v1/policy", nil, &v); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "policy from %s, time zone %s\n", v.File, v.TimeZone)
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "#\tACTION\tWHO\tSERVICES\tHOURS\tDATES\tCAPS\tNAME")
		for _, r := range v.Rules {
			dates := ""
			if r.From != "" || r.Until != "" {
				dates = r.From + ".." + r.Until
			}
			svcs := strings.Join(r.Services, ",")
			if svcs == "" {
				svcs = "all"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Index, r.Action, strings.Join(r.Who, ","), svcs,
				strings.Join(r.Hours, "; "), dates, r.Caps, r.Name)
		}
		tw.Flush()
		if len(v.Rules) == 0 {
			fmt.Fprintln(stdout, "no rules: every connection is denied")
		}
		for _, w := range v.Warnings {
			fmt.Fprintf(stdout, "warning: %s\n", w)
		}
	case "reload":
		c, err := client()
		if err != nil {
			return err
		}
		var r adminapi.CutResult
		if err := c.Do(ctx, "POST", "/api/v1/policy/reload", nil, &r); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "policy reloaded; %d live session(s) no longer allowed were cut\n", r.SessionsCut)
	default:
		return fmt.Errorf("unknown policy command %q (check, explain, show, reload)", pos[0])
	}
	return nil
}

func cmdReport(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	client := clientFlags(fs)
	from := fs.String("from", "7d", "start: a date, date and time, RFC 3339, or a span back like 30d")
	to := fs.String("to", "", "end (default now)")
	by := fs.String("by", "user", "user, group or service")
	format := fs.String("format", "table", "table, csv or json")
	hourly := fs.Bool("hourly", false, "also print peak concurrency per hour (table format)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *format != "table" && *format != "csv" && *format != "json" {
		return fmt.Errorf("--format %q: use table, csv or json", *format)
	}
	c, err := client()
	if err != nil {
		return err
	}
	q := url.Values{"from": {*from}, "by": {*by}}
	if *to != "" {
		q.Set("to", *to)
	}
	var rep audit.Report
	if err := c.Do(context.Background(), "GET", "/api/v1/report?"+q.Encode(), nil, &rep); err != nil {
		return err
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "csv":
		w := csv.NewWriter(stdout)
		w.Write([]string{rep.By, "sessions", "hours", "peak", "bytes_up", "bytes_down"})
		for _, r := range rep.Rows {
			w.Write([]string{r.Key, strconv.Itoa(r.Sessions), strconv.FormatFloat(r.Hours, 'f', 3, 64), strconv.Itoa(r.Peak),
				strconv.FormatInt(r.BytesUp, 10), strconv.FormatInt(r.BytesDown, 10)})
		}
		w.Flush()
		return w.Error()
	}
	fmt.Fprintf(stdout, "license use %s .. %s by %s\n", rep.From.Local().Format(time.DateTime), rep.To.Local().Format(time.DateTime), rep.By)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\tSESSIONS\tHOURS\tPEAK\tBYTES UP\tBYTES DOWN\n", strings.ToUpper(rep.By))
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%d\t%d\t%d\n", r.Key, r.Sessions, r.Hours, r.Peak, r.BytesUp, r.BytesDown)
	}
	tw.Flush()
	peak := 0
	for _, h := range rep.Hourly {
		peak = max(peak, h.Peak)
	}
	fmt.Fprintf(stdout, "peak concurrency in the period: %d\n", peak)
	if *hourly {
		for _, h := range rep.Hourly {
			if h.Peak > 0 {
				fmt.Fprintf(stdout, "  %s  %s\n", h.Hour.Local().Format("2006-01-02 15:00"), strings.Repeat("#", h.Peak))
			}
		}
	}
	return nil
}
