package audit

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/session"
	"github.com/licgate/licgate/store"
)

type recorded []store.AuditSession

func (r recorded) AuditSessions(_ context.Context, from, to time.Time) ([]store.AuditSession, error) {
	var out []store.AuditSession
	for _, s := range r {
		if s.Start.Before(to) && (s.End == nil || s.End.After(from)) {
			out = append(out, s)
		}
	}
	return out, nil
}

// A recorded day of two products, minute-aligned, checked against a
// minute-by-minute count made here: peak, time at the limit, seats never
// used, seat-hours, sessions and users. Lookup sessions (no seat) would
// raise cad's peak if they were counted.
func TestProductReportKnownAnswers(t *testing.T) {
	loc := time.FixedZone("office", 3600)
	from := time.Date(2026, 11, 2, 0, 0, 0, 0, loc)
	to := from.Add(24 * time.Hour)
	now := to.Add(time.Hour)
	at := func(h, m int) time.Time { return from.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	end := func(h, m int) *time.Time { t := at(h, m); return &t }
	rec := recorded{
		{Service: "cad", User: "alice", Start: at(-2, 0), End: end(9, 0)}, // from the day before
		{Service: "cad", User: "bob", Start: at(8, 0), End: end(12, 0)},
		{Service: "cad", User: "carol", Start: at(8, 30), End: end(10, 15)},
		{Service: "cad", User: "alice", Start: at(9, 0), End: end(9, 45)}, // back to back with her first
		{Service: "cad", User: "dave", Start: at(11, 0), End: end(11, 30)},
		{Service: "cad", User: "erin", Start: at(8, 40), End: end(8, 50), Reason: "allowed by staff" + NoSeatMark},
		{Service: "cad", User: "erin", Start: at(8, 41), End: end(8, 42), Reason: NoSeatMark},
		{Service: "sim", User: "bob", Start: at(22, 0)}, // still open
		{Service: "sim", User: "bob", Start: at(13, 0), End: end(13, 20)},
	}
	seats := map[string]int{"cad": 3, "sim": 4}
	rep, err := BuildProductReport(context.Background(), rec, from, to, now, []string{"cad", "sim", "idle"})
	if err != nil {
		t.Fatal(err)
	}
	rep.ApplySeats(seats)

	// The same by counting each minute.
	type want struct {
		peak, atLimitMin, seatMin, sessions, users int
	}
	expect := map[string]*want{"cad": {}, "sim": {}, "idle": {}}
	for m := 0; m < 24*60; m++ {
		t0 := from.Add(time.Duration(m) * time.Minute)
		n := map[string]int{}
		for _, s := range rec {
			e := now
			if s.End != nil {
				e = *s.End
			}
			if holdsSeat(s) && !t0.Before(s.Start) && t0.Before(e) {
				n[s.Service]++
			}
		}
		for p, w := range expect {
			w.peak = max(w.peak, n[p])
			w.seatMin += n[p]
			if seats[p] > 0 && n[p] >= seats[p] {
				w.atLimitMin++
			}
		}
	}
	expect["cad"].sessions, expect["cad"].users = 5, 4
	expect["sim"].sessions, expect["sim"].users = 2, 1
	if len(rep.Rows) != 3 {
		t.Fatalf("rows %+v", rep.Rows)
	}
	for _, r := range rep.Rows {
		w := expect[r.Product]
		never := 0
		if seats[r.Product] > 0 {
			never = seats[r.Product] - w.peak
		}
		if r.Peak != w.peak || r.AtLimitHours != roundHours(float64(w.atLimitMin)/60) || r.NeverUsed != never ||
			r.Hours != roundHours(float64(w.seatMin)/60) || r.Sessions != w.sessions || r.Users != w.users {
			t.Errorf("%s: got peak %d, at limit %.3fh, never used %d, %.3f seat-hours, %d sessions, %d users; want %d, %.3fh, %d, %.3f, %d, %d",
				r.Product, r.Peak, r.AtLimitHours, r.NeverUsed, r.Hours, r.Sessions, r.Users,
				w.peak, float64(w.atLimitMin)/60, never, float64(w.seatMin)/60, w.sessions, w.users)
		}
		var sum float64
		for _, h := range r.LevelHours {
			sum += h
		}
		if sum < 23.99 || sum > 24.01 {
			t.Errorf("%s: level hours add up to %.3f, not the 24 h of the period", r.Product, sum)
		}
	}
	// The values a person would state, as a last check on the counting
	// above: cad had 3 seats held 08:30-09:00 (alice, bob, carol) and
	// 09:00-09:45 (bob, carol, alice again): 75 minutes at its limit of 3.
	if r := rep.Rows[0]; r.Product != "cad" || r.Peak != 3 || r.AtLimitHours != 1.25 || r.NeverUsed != 0 {
		t.Errorf("cad: %+v", r)
	}
	if r := rep.Rows[1]; r.Product != "idle" || r.Peak != 0 || r.Sessions != 0 || r.Seats != 0 {
		t.Errorf("idle: %+v", r)
	}
	if r := rep.Rows[2]; r.Product != "sim" || r.Peak != 1 || r.NeverUsed != 3 || r.AtLimitHours != 0 {
		t.Errorf("sim: %+v", r)
	}
	var buf bytes.Buffer
	rep.WriteText(&buf)
	if !strings.Contains(buf.String(), "cad      3      3     1h15m     0") {
		t.Errorf("text:\n%s", buf.String())
	}
}

// Random recorded logs: the sweep agrees with the minute count on peak
// and time at every limit.
func TestProductReportRandom(t *testing.T) {
	from := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	to := from.Add(12 * time.Hour)
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 50; round++ {
		var rec recorded
		for i := 0; i < 1+r.IntN(30); i++ {
			s := from.Add(time.Duration(r.IntN(14*60)-60) * time.Minute)
			e := s.Add(time.Duration(1+r.IntN(180)) * time.Minute)
			rec = append(rec, store.AuditSession{Service: "p", User: "u", Start: s, End: &e})
		}
		rep, err := BuildProductReport(context.Background(), rec, from, to, to, nil)
		if err != nil {
			t.Fatal(err)
		}
		for limit := 1; limit <= 6; limit++ {
			rep.ApplySeats(map[string]int{"p": limit})
			peak, atLimit := 0, 0
			for m := 0; m < 12*60; m++ {
				t0, n := from.Add(time.Duration(m)*time.Minute), 0
				for _, s := range rec {
					if !t0.Before(s.Start) && t0.Before(*s.End) {
						n++
					}
				}
				peak = max(peak, n)
				if n >= limit {
					atLimit++
				}
			}
			got := rep.Rows[0]
			if got.Peak != peak || got.AtLimitHours != roundHours(float64(atLimit)/60) {
				t.Fatalf("round %d limit %d: peak %d at limit %.3f, want %d %.3f", round, limit, got.Peak, got.AtLimitHours, peak, float64(atLimit)/60)
			}
		}
	}
}

// Sessions.Start marks the sessions that hold no seat.
func TestSeatReason(t *testing.T) {
	for _, c := range []struct {
		s    *session.Session
		seat bool
	}{
		{&session.Session{Proto: "tcp"}, true},
		{&session.Session{Proto: "tcp", NoSeat: true}, false},
		{&session.Session{Proto: "udp"}, false},
		{&session.Session{Proto: "udp", CountUDP: true}, true},
	} {
		if got := holdsSeat(store.AuditSession{Reason: seatReason(c.s)}); got != c.seat {
			t.Errorf("%s NoSeat=%v CountUDP=%v: holds a seat %v, want %v", c.s.Proto, c.s.NoSeat, c.s.CountUDP, got, c.seat)
		}
	}
}
