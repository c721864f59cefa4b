package ddns_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/licgate/licgate/ddns"
)

// signalSource tells each detection on a channel.
type signalSource struct{ checks chan struct{} }

func (s *signalSource) Name() string { return "signal" }
func (s *signalSource) Detect(context.Context, ddns.Family) (netip.Addr, error) {
	s.checks <- struct{}{}
	return netip.MustParseAddr("203.0.113.5"), nil
}

type fakeTimer struct {
	d  time.Duration
	ch chan time.Time
}

// A burst of 48 interface signals is one check, Debounce after the
// first; no sleeps: the fake timer fires when the test says.
func TestWatchBurstIsOneCheck(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	timers := make(chan fakeTimer, 16)
	src := &signalSource{checks: make(chan struct{}, 100)}
	watch := make(chan struct{}) // unbuffered: a send returns once Run took it
	m := &ddns.Manager{Host: "office.example.net", Detector: &ddns.Detector{Sources: []ddns.Source{src}}, State: &ddns.MemState{},
		Interval: time.Hour, Watch: watch,
		After: func(d time.Duration) <-chan time.Time {
			ft := fakeTimer{d, make(chan time.Time, 1)}
			timers <- ft
			return ft.ch
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()

	<-src.checks // the check at start
	poll := <-timers
	if poll.d < 57*time.Minute || poll.d > 63*time.Minute {
		t.Fatalf("poll timer %s, want about 1h", poll.d)
	}
	for i := 0; i < 48; i++ {
		watch <- struct{}{}
	}
	settle := <-timers
	if settle.d != 2*time.Second {
		t.Fatalf("debounce %s, want the 2s default", settle.d)
	}
	if len(timers) != 0 || len(src.checks) != 0 {
		t.Fatalf("48 signals: %d more timers, %d checks before the debounce ran out", len(timers), len(src.checks))
	}
	settle.ch <- time.Now()
	<-src.checks // the one check for the burst
	<-timers     // Run waits again: the next poll timer
	if len(src.checks) != 0 {
		t.Fatalf("%d extra checks", len(src.checks))
	}
	// The next burst gets its own check.
	watch <- struct{}{}
	settle = <-timers
	settle.ch <- time.Now()
	<-src.checks
	<-timers
	if len(src.checks) != 0 {
		t.Fatalf("%d extra checks after the second burst", len(src.checks))
	}
}
