package ddns_test

import (
	"context"
	"testing"
	"time"

	"github.com/licgate/licgate/ddns"
)

// After badauth, abuse or 911, a restart (a new Manager on the same
// state) sends nothing until the provider's configuration changes or the
// back-off ends.
func TestStopAndBackoffSurviveRestart(t *testing.T) {
	ctx := context.Background()
	for _, answer := range []string{"badauth", "abuse", "911"} {
		t.Run(answer, func(t *testing.T) {
			d := newDyndns(t, answer)
			src := &fixedSource{}
			src.set("203.0.113.9")
			state := &ddns.MemState{}
			clk := &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
			mk := func() *ddns.Manager {
				return &ddns.Manager{Host: "office.example.net", Detector: &ddns.Detector{Sources: []ddns.Source{src}}, State: state, Now: clk.now,
					Providers: []ddns.Provider{{Name: "noip", Updater: d.updater()}}}
			}
			mk().Check(ctx)
			if d.hits.Load() != 1 {
				t.Fatalf("first check: %d requests", d.hits.Load())
			}
			clk.advance(10 * time.Minute)
			for restart := 0; restart < 3; restart++ {
				m := mk()
				m.Check(ctx)
				st := m.Status()[0]
				if answer == "911" {
					if st.Stopped || st.NextAttempt == nil || !st.NextAttempt.After(clk.now()) {
						t.Fatalf("restart %d: back-off not restored: %+v", restart, st)
					}
				} else if !st.Stopped {
					t.Fatalf("restart %d: stop not restored: %+v", restart, st)
				}
			}
			if d.hits.Load() != 1 {
				t.Fatalf("%d requests after %s and three restarts, want 1", d.hits.Load(), answer)
			}
			if answer != "911" {
				return
			}
			// The back-off is over: the next restart tries again.
			d.answer.Store(ptr("good"))
			clk.advance(31 * time.Minute)
			mk().Check(ctx)
			if d.hits.Load() != 2 {
				t.Fatalf("after the back-off: %d requests, want 2", d.hits.Load())
			}
		})
	}
}

// A hold binds to the configuration: fixing the password (or changing
// the host) releases it, and a success clears it from the store.
func TestHoldReleasedByConfigChange(t *testing.T) {
	ctx := context.Background()
	d := newDyndns(t, "good")
	src := &fixedSource{}
	src.set("203.0.113.9")
	state := &ddns.MemState{}
	wrong := d.updater()
	wrong.Password = "typo"
	mk := func(u ddns.Updater, host string) *ddns.Manager {
		return &ddns.Manager{Host: host, Detector: &ddns.Detector{Sources: []ddns.Source{src}}, State: state,
			Providers: []ddns.Provider{{Name: "noip", Updater: u}}}
	}
	m := mk(wrong, "office.example.net")
	m.Check(ctx)
	h, _ := state.DDNSHold(ctx, "noip")
	if !h.Fatal || h.Reason != "badauth" || h.ConfigFingerprint == "" {
		t.Fatalf("stored hold: %+v", h)
	}
	if st := m.Status()[0]; !st.Stopped || st.Hold != "badauth" {
		t.Fatalf("status: %+v", st)
	}
	if fp := wrong.Fingerprint(); len(fp) != 32 || fp == d.updater().Fingerprint() {
		t.Fatalf("fingerprints: %q vs %q", fp, d.updater().Fingerprint())
	}
	mk(wrong, "office.example.net").Check(ctx)
	if d.hits.Load() != 1 {
		t.Fatalf("restart with the same wrong password sent again: %d", d.hits.Load())
	}
	m = mk(d.updater(), "office.example.net") // password fixed
	m.Check(ctx)
	if d.hits.Load() != 2 || m.Status()[0].Updates != 1 {
		t.Fatalf("fixed password: %d requests, %+v", d.hits.Load(), m.Status()[0])
	}
	if h, _ := state.DDNSHold(ctx, "noip"); !h.IsZero() {
		t.Fatalf("hold not cleared after success: %+v", h)
	}
	// A new host name is a new configuration too.
	state.SetDDNSHold(ctx, "noip", ddns.Hold{Reason: "nohost", Fatal: true, ConfigFingerprint: "elsewhere"})
	src.set("203.0.113.10")
	m = mk(d.updater(), "office2.example.net")
	m.Check(ctx)
	if d.hits.Load() != 3 || m.Status()[0].Stopped {
		t.Fatalf("hold of another configuration obeyed: %d requests, %+v", d.hits.Load(), m.Status()[0])
	}
	if h, _ := state.DDNSHold(ctx, "noip"); !h.IsZero() {
		t.Fatalf("stale hold not dropped: %+v", h)
	}
}
