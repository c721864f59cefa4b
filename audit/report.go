package audit

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/licgate/licgate/store"
)

// ReportRow is one user, group or service in a usage report.
type ReportRow struct {
	Key       string  `json:"key"`
	Sessions  int     `json:"sessions"`
	Hours     float64 `json:"hours"` // license-hours held in the period
	BytesUp   int64   `json:"bytes_up"`
	BytesDown int64   `json:"bytes_down"`
	Peak      int     `json:"peak"` // most sessions held at once
}

// HourPeak is the most sessions held at once in one hour.
type HourPeak struct {
	Hour time.Time `json:"hour"`
	Peak int       `json:"peak"`
}

// Report is who held licenses in a period.
type Report struct {
	// Zone is the office's time zone (the policy's): the bounds, the hours
	// and the text output are in it.
	Zone   string      `json:"zone"`
	From   time.Time   `json:"from"`
	To     time.Time   `json:"to"`
	By     string      `json:"by"`
	Rows   []ReportRow `json:"rows"`
	Hourly []HourPeak  `json:"hourly"`
	// Products is the report by product (By "product"): seat use per
	// service; Rows and Hourly are then empty.
	Products *ProductReport `json:"products,omitempty"`
}

// SessionSource is what a report reads.
type SessionSource interface {
	// AuditSessions returns the sessions that overlap [from, to).
	AuditSessions(ctx context.Context, from, to time.Time) ([]store.AuditSession, error)
}

// BuildReport summarises the audit log over [from, to) by user, group or
// service (groupsOf names a user's groups). Sessions still open count up
// to now (or to, if earlier). Hours are the office's local time of from.
func BuildReport(ctx context.Context, src SessionSource, groupsOf func(user string) []string, from, to, now time.Time, by string) (*Report, error) {
	if !to.After(from) {
		return nil, fmt.Errorf("report: --to %s is not after --from %s", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	if to.Sub(from) > 400*24*time.Hour {
		return nil, fmt.Errorf("report: period longer than 400 days")
	}
	var keys func(user, service string) []string
	switch by {
	case "product":
		pr, err := BuildProductReport(ctx, src, from, to, now, nil)
		if err != nil {
			return nil, err
		}
		return &Report{From: from, To: to, By: by, Zone: from.Location().String(), Rows: []ReportRow{}, Hourly: []HourPeak{}, Products: pr}, nil
	case "", "user":
		by = "user"
		keys = func(u, _ string) []string { return []string{u} }
	case "service":
		keys = func(_, s string) []string { return []string{s} }
	case "group":
		keys = func(u, _ string) []string {
			if gs := groupsOf(u); len(gs) > 0 {
				return gs
			}
			return []string{"(no group)"}
		}
	default:
		return nil, fmt.Errorf("report: by %q: use user, group, service or product", by)
	}
	rows, err := src.AuditSessions(ctx, from, to)
	if err != nil {
		return nil, err
	}
	type event struct {
		at    time.Time
		delta int
		keys  []string
	}
	var events []event
	acc := map[string]*ReportRow{}
	for _, r := range rows {
		start, end := r.Start, now
		if r.End != nil {
			end = *r.End
		}
		if start.Before(from) {
			start = from
		}
		if end.After(to) {
			end = to
		}
		if !end.After(start) {
			// A session that existed held a seat, however briefly, and
			// counts towards the peak.
			end = start.Add(time.Microsecond)
		}
		ks := keys(r.User, r.Service)
		for _, k := range ks {
			row := acc[k]
			if row == nil {
				row = &ReportRow{Key: k}
				acc[k] = row
			}
			row.Sessions++
			row.Hours += end.Sub(start).Hours()
			row.BytesUp += r.BytesUp
			row.BytesDown += r.BytesDown
		}
		events = append(events, event{start, +1, ks}, event{end, -1, ks})
	}
	// Ends before starts at the same instant: back-to-back sessions are
	// not concurrent.
	sort.SliceStable(events, func(i, j int) bool {
		if events[i].at.Equal(events[j].at) {
			return events[i].delta < events[j].delta
		}
		return events[i].at.Before(events[j].at)
	})
	rep := &Report{From: from, To: to, By: by, Zone: from.Location().String()}
	cur := map[string]int{}
	total := 0
	hour := from.Truncate(time.Hour)
	ei := 0
	for ; hour.Before(to); hour = hour.Add(time.Hour) {
		next := hour.Add(time.Hour)
		peak := total
		for ei < len(events) && events[ei].at.Before(next) {
			e := events[ei]
			total += e.delta
			for _, k := range e.keys {
				cur[k] += e.delta
				if cur[k] > acc[k].Peak {
					acc[k].Peak = cur[k]
				}
			}
			if total > peak {
				peak = total
			}
			ei++
		}
		rep.Hourly = append(rep.Hourly, HourPeak{Hour: hour, Peak: peak})
	}
	for _, r := range acc {
		r.Hours = float64(int64(r.Hours*1000)) / 1000
		rep.Rows = append(rep.Rows, *r)
	}
	sort.Slice(rep.Rows, func(i, j int) bool {
		if rep.Rows[i].Hours != rep.Rows[j].Hours {
			return rep.Rows[i].Hours > rep.Rows[j].Hours
		}
		return rep.Rows[i].Key < rep.Rows[j].Key
	})
	return rep, nil
}

// WriteCSV writes the rows as CSV: key, sessions, hours, peak, bytes.
func (rep *Report) WriteCSV(w io.Writer) error {
	if rep.Products != nil {
		return rep.Products.WriteCSV(w)
	}
	cw := csv.NewWriter(w)
	cw.Write([]string{rep.By, "sessions", "hours", "peak", "bytes_up", "bytes_down"})
	for _, r := range rep.Rows {
		cw.Write([]string{r.Key, strconv.Itoa(r.Sessions), strconv.FormatFloat(r.Hours, 'f', 3, 64), strconv.Itoa(r.Peak),
			strconv.FormatInt(r.BytesUp, 10), strconv.FormatInt(r.BytesDown, 10)})
	}
	cw.Flush()
	return cw.Error()
}

// WriteText writes the report for people, times in the office's zone
// ([from, to): the end is not included); hourly adds a bar per hour.
func (rep *Report) WriteText(w io.Writer, hourly bool) error {
	if rep.Products != nil {
		return rep.Products.WriteText(w)
	}
	loc, err := time.LoadLocation(rep.Zone)
	if err != nil {
		loc = rep.From.Location()
	}
	fmt.Fprintf(w, "license use from %s up to %s (%s) by %s\n", rep.From.In(loc).Format(time.DateTime), rep.To.In(loc).Format(time.DateTime), loc, rep.By)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\tSESSIONS\tHOURS\tPEAK\tBYTES UP\tBYTES DOWN\n", strings.ToUpper(rep.By))
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%d\t%d\t%d\n", r.Key, r.Sessions, r.Hours, r.Peak, r.BytesUp, r.BytesDown)
	}
	tw.Flush()
	peak := 0
	for _, h := range rep.Hourly {
		peak = max(peak, h.Peak)
	}
	fmt.Fprintf(w, "peak concurrency in the period: %d\n", peak)
	if hourly {
		for _, h := range rep.Hourly {
			if h.Peak > 0 {
				fmt.Fprintf(w, "  %s  %s\n", h.Hour.In(loc).Format("2006-01-02 15:04"), strings.Repeat("#", h.Peak))
			}
		}
	}
	return nil
}
