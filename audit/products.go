package audit

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/licgate/licgate/session"
	"github.com/licgate/licgate/store"
)

// NoSeatMark ends the Reason of an audited session that held no seat (a
// FlexNet lmgrd or RLM lookup, a search datagram): product reports leave
// such sessions out. The audit log has no column for it; the mark keeps
// the record readable as it is.
const NoSeatMark = " [no seat]"

// holdsSeat is session.capped as the audit log can tell it: the mark is
// written by Sessions.Start.
func holdsSeat(r store.AuditSession) bool { return !strings.HasSuffix(r.Reason, NoSeatMark) }

// seatReason is s.Reason with NoSeatMark when s holds no seat.
func seatReason(s *session.Session) string {
	if s.NoSeat || (s.Proto != "tcp" && !s.CountUDP) {
		return s.Reason + NoSeatMark
	}
	return s.Reason
}

// ProductRow is one service (the product its license server serves) in a
// report by product.
type ProductRow struct {
	Product  string  `json:"product"`
	Sessions int     `json:"sessions"` // seat sessions in the period
	Users    int     `json:"users"`    // distinct users who held a seat
	Hours    float64 `json:"hours"`    // seat-hours
	Peak     int     `json:"peak"`     // most seats held at once
	// LevelHours[n] is how long exactly n seats were held at once.
	LevelHours []float64 `json:"level_hours"`
	// Seats is the service's seat limit (licgate's cap; 0: none known).
	// AtLimitHours is how long all of them were held; NeverUsed how many
	// were never held in the period (Seats - Peak, at least 0). Both are
	// set by ApplySeats and left zero without a limit.
	Seats        int     `json:"seats"`
	AtLimitHours float64 `json:"at_limit_hours"`
	NeverUsed    int     `json:"never_used"`
}

// ProductReport is seat use per product over [From, To).
type ProductReport struct {
	Zone string       `json:"zone"`
	From time.Time    `json:"from"`
	To   time.Time    `json:"to"`
	Rows []ProductRow `json:"rows"`
}

// BuildProductReport is seat use per service over [from, to): peak, time
// at each number of seats held, distinct users. Sessions that held no
// seat (NoSeatMark) are left out; sessions still open count up to now.
// products lists services to show even when unused (the configured ones).
func BuildProductReport(ctx context.Context, src SessionSource, from, to, now time.Time, products []string) (*ProductReport, error) {
	if !to.After(from) {
		return nil, fmt.Errorf("report: --to %s is not after --from %s", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	rows, err := src.AuditSessions(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("report: reading sessions: %w", err)
	}
	type event struct {
		at    time.Time
		delta int
	}
	events := map[string][]event{}
	acc := map[string]*ProductRow{}
	users := map[string]map[string]bool{}
	get := func(p string) *ProductRow {
		if acc[p] == nil {
			acc[p] = &ProductRow{Product: p}
			users[p] = map[string]bool{}
		}
		return acc[p]
	}
	for _, p := range products {
		get(p)
	}
	for _, r := range rows {
		if !holdsSeat(r) {
			continue
		}
		start, end := r.Start, now
		if r.End != nil {
			end = *r.End
		}
		start, end = maxTime(start, from), minTime(end, to)
		if !end.After(start) {
			end = start.Add(time.Microsecond) // it held a seat, however briefly
		}
		row := get(r.Service)
		row.Sessions++
		row.Hours += end.Sub(start).Hours()
		users[r.Service][r.User] = true
		events[r.Service] = append(events[r.Service], event{start, +1}, event{end, -1})
	}
	rep := &ProductReport{Zone: from.Location().String(), From: from, To: to}
	for p, row := range acc {
		evs := events[p]
		// Ends before starts at one instant: back to back is not at once.
		sort.SliceStable(evs, func(i, j int) bool {
			if evs[i].at.Equal(evs[j].at) {
				return evs[i].delta < evs[j].delta
			}
			return evs[i].at.Before(evs[j].at)
		})
		level, last := 0, from
		levels := []time.Duration{0}
		for _, e := range evs {
			levels[level] += e.at.Sub(last)
			last = e.at
			level += e.delta
			for len(levels) <= level {
				levels = append(levels, 0)
			}
			row.Peak = max(row.Peak, level)
		}
		levels[level] += to.Sub(last)
		for _, d := range levels {
			row.LevelHours = append(row.LevelHours, d.Hours())
		}
		row.Hours = roundHours(row.Hours)
		row.Users = len(users[p])
		rep.Rows = append(rep.Rows, *row)
	}
	sort.Slice(rep.Rows, func(i, j int) bool { return rep.Rows[i].Product < rep.Rows[j].Product })
	return rep, nil
}

// ApplySeats sets each row's limit (seats by product; missing or 0: no
// limit known) and what follows from it: time at the limit, seats never
// used. A product in seats without a row (configured, never used in the
// period) gets one.
func (rep *ProductReport) ApplySeats(seats map[string]int) {
	have := map[string]bool{}
	for _, r := range rep.Rows {
		have[r.Product] = true
	}
	for p := range seats {
		if !have[p] {
			rep.Rows = append(rep.Rows, ProductRow{Product: p, LevelHours: []float64{rep.To.Sub(rep.From).Hours()}})
		}
	}
	sort.Slice(rep.Rows, func(i, j int) bool { return rep.Rows[i].Product < rep.Rows[j].Product })
	for i := range rep.Rows {
		r := &rep.Rows[i]
		r.Seats, r.AtLimitHours, r.NeverUsed = seats[r.Product], 0, 0
		if r.Seats <= 0 {
			r.Seats = 0
			continue
		}
		for n := r.Seats; n < len(r.LevelHours); n++ {
			r.AtLimitHours += r.LevelHours[n]
		}
		r.AtLimitHours = roundHours(r.AtLimitHours)
		r.NeverUsed = max(r.Seats-r.Peak, 0)
	}
}

// WriteText writes the report for people.
func (rep *ProductReport) WriteText(w io.Writer) error {
	loc, err := time.LoadLocation(rep.Zone)
	if err != nil {
		loc = rep.From.Location()
	}
	fmt.Fprintf(w, "seat use from %s up to %s (%s) by product\n", rep.From.In(loc).Format(time.DateTime), rep.To.In(loc).Format(time.DateTime), loc)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PRODUCT\tSEATS\tPEAK\tAT LIMIT\tNEVER USED\tSEAT-HOURS\tSESSIONS\tUSERS")
	for _, r := range rep.Rows {
		seats, atLimit, never := "-", "-", "-"
		if r.Seats > 0 {
			seats, atLimit, never = fmt.Sprint(r.Seats), formatHours(r.AtLimitHours), fmt.Sprint(r.NeverUsed)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%.2f\t%d\t%d\n", r.Product, seats, r.Peak, atLimit, never, r.Hours, r.Sessions, r.Users)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	fmt.Fprintln(w, "SEATS is licgate's cap on the service (-: none); seats held other than through licgate are not in the audit log.")
	return nil
}

// WriteCSV writes the rows as CSV.
func (rep *ProductReport) WriteCSV(w io.Writer) error {
	var b strings.Builder
	b.WriteString("product,seats,peak,at_limit_hours,never_used,seat_hours,sessions,users\n")
	for _, r := range rep.Rows {
		fmt.Fprintf(&b, "%s,%d,%d,%.3f,%d,%.3f,%d,%d\n", csvField(r.Product), r.Seats, r.Peak, r.AtLimitHours, r.NeverUsed, r.Hours, r.Sessions, r.Users)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

func formatHours(h float64) string {
	d := time.Duration(h * float64(time.Hour)).Round(time.Minute)
	if d == 0 {
		return "0m"
	}
	return strings.TrimSuffix(d.String(), "0s")
}

func roundHours(h float64) float64 { return float64(int64(h*1000+0.5)) / 1000 }

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
