package cluster

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The circuit: calls in flight when the first one fails give up with it;
// while open, calls are refused without running; one probe at a time,
// with a growing backoff; the first probe that answers closes it.
func TestBreakerStates(t *testing.T) {
	var (
		mu     sync.Mutex
		events []BreakerEvent
		evc    = make(chan BreakerEvent, 100)
	)
	healthy := make(chan struct{})
	var probing, maxProbing, probes atomic.Int32
	probe := func(ctx context.Context) error {
		n := probing.Add(1)
		defer probing.Add(-1)
		if n > maxProbing.Load() {
			maxProbing.Store(n)
		}
		if probes.Add(1) < 3 {
			return errors.New("no answer")
		}
		<-healthy // the third probe waits (half-open) until the database is back
		return nil
	}
	const timeout = 200 * time.Millisecond
	b := newBreaker(timeout, 10*time.Millisecond, 40*time.Millisecond, probe, func(ev BreakerEvent) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
		evc <- ev
	}, slog.New(slog.DiscardHandler))
	defer b.close()

	// 10 calls wait on a database that does not answer; the first to run
	// out opens the circuit and ends the others with it.
	var ran atomic.Int32
	hang := func(ctx context.Context) error { ran.Add(1); <-ctx.Done(); return ctx.Err() }
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	t0 := time.Now()
	for range 10 {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- b.do(context.Background(), hang) }()
	}
	wg.Wait()
	close(errs)
	if d := time.Since(t0); d > 2*timeout {
		t.Errorf("the calls in flight ended after %v, want within one timeout (%v) and a margin", d, timeout)
	}
	for err := range errs {
		if err == nil {
			t.Fatal("a call to a database that does not answer succeeded")
		}
	}
	if st := b.status(); st.Trips != 1 || st.Calls != 10 || st.State == BreakerClosed {
		t.Fatalf("after 10 hanging calls: %+v, want one trip, 10 calls, not closed", st)
	}
	// Open: refused at once, fn never runs.
	before := ran.Load()
	for range 50 {
		if err := b.do(context.Background(), hang); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("open circuit: %v, want ErrUnavailable", err)
		}
	}
	if ran.Load() != before {
		t.Fatal("an open circuit ran the call")
	}
	if st := b.status(); st.Refused != 50 {
		t.Fatalf("refused %d, want 50", st.Refused)
	}
	close(healthy)
	for ev := range evc {
		if ev.To == BreakerClosed {
			break
		}
	}
	if err := b.do(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatalf("closed again: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []BreakerState{BreakerOpen, BreakerHalfOpen, BreakerOpen, BreakerHalfOpen, BreakerOpen, BreakerHalfOpen, BreakerClosed}
	if len(events) != len(want) {
		t.Fatalf("events %v, want states %v", events, want)
	}
	for i, ev := range events {
		if ev.To != want[i] {
			t.Fatalf("event %d: %s -> %s, want -> %s (all: %v)", i, ev.From, ev.To, want[i], events)
		}
	}
	// Backoff 10ms, then 20ms, then 40ms between a failed probe and the next.
	if g1, g2 := events[3].At.Sub(events[2].At), events[5].At.Sub(events[4].At); g1 < 20*time.Millisecond || g2 < 40*time.Millisecond {
		t.Fatalf("waits between probes %v, %v: want at least 20ms, 40ms (doubling backoff)", g1, g2)
	}
	if maxProbing.Load() != 1 {
		t.Fatalf("%d probes ran at once, want 1", maxProbing.Load())
	}
}

// A caller that gives up (shutdown) does not open the circuit.
func TestBreakerCallerCancelDoesNotTrip(t *testing.T) {
	b := newBreaker(time.Second, time.Millisecond, time.Millisecond, func(context.Context) error { return nil }, nil,
		slog.New(slog.DiscardHandler))
	defer b.close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b.do(ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	if st := b.status(); st.State != BreakerClosed || st.Trips != 0 {
		t.Fatalf("a cancelled caller opened the circuit: %+v", st)
	}
}
