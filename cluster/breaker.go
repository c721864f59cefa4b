package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// The database circuit breaker. Every admission, release, update and
// count goes through it, so a database that does not answer costs the
// gateway one timeout, not one per connect:
//
//	closed ──a call fails or runs out──> open ──backoff──> half-open
//	  ^                                   ^                   │ one probe
//	  └──────────── the probe answers ────┼───────────────────┘
//	                                      └── the probe fails (backoff doubles)
//
// closed: calls go to the database, each bounded by the timeout. The
// first that fails opens the circuit and cancels the calls still in
// flight (they wait on the same database), so every connect made before
// the trip is refused within one timeout of the first.
// open: calls are refused at once with ErrUnavailable (admission fails
// closed); one background probe at a time asks the database, after a
// backoff that starts at ProbeBackoff and doubles up to MaxProbeBackoff.
// half-open: the probe is in flight; calls are still refused.

// ErrUnavailable is returned at once, without asking the database, while
// the circuit is open: the database did not answer lately.
var ErrUnavailable = errors.New("database unavailable (circuit open): refused without asking it")

// BreakerState is the circuit's state.
type BreakerState string

// Breaker states.
const (
	BreakerClosed   BreakerState = "closed"
	BreakerOpen     BreakerState = "open"
	BreakerHalfOpen BreakerState = "half-open"
)

// BreakerStatus is the circuit as health and metrics show it.
type BreakerStatus struct {
	State BreakerState `json:"state"`
	Since time.Time    `json:"since"`
	// Trips counts closed -> open; Calls the calls that went to the
	// database; Refused those refused at once while it was not closed;
	// Probes the probes made.
	Trips   int64 `json:"trips"`
	Calls   int64 `json:"calls"`
	Refused int64 `json:"refused"`
	Probes  int64 `json:"probes"`
	// LastError is the failure that opened the circuit, or the last
	// failed probe's.
	LastError string `json:"last_error,omitempty"`
	// NextProbe is when the next probe starts (open only).
	NextProbe time.Time `json:"next_probe,omitzero"`
}

// BreakerEvent is one state change.
type BreakerEvent struct {
	From, To BreakerState
	At       time.Time
	Err      error // why it opened (nil when it closed)
}

// breaker is the circuit; safe for concurrent use.
type breaker struct {
	timeout    time.Duration
	minBackoff time.Duration
	maxBackoff time.Duration
	probe      func(context.Context) error
	onChange   func(BreakerEvent)
	log        *slog.Logger

	mu        sync.Mutex
	st        BreakerStatus
	backoff   time.Duration
	tripped   context.Context // cancelled when the circuit opens
	trip      context.CancelFunc
	closed    bool
	quit      context.Context // cancelled by close: stops the probe
	stopProbe context.CancelFunc
	probeDone chan struct{} // nil unless a probe loop runs
}

func newBreaker(timeout, minBackoff, maxBackoff time.Duration, probe func(context.Context) error,
	onChange func(BreakerEvent), log *slog.Logger) *breaker {
	b := &breaker{timeout: timeout, minBackoff: minBackoff, maxBackoff: maxBackoff, probe: probe, onChange: onChange,
		log: log, backoff: minBackoff}
	b.quit, b.stopProbe = context.WithCancel(context.Background())
	b.st = BreakerStatus{State: BreakerClosed, Since: time.Now()}
	b.tripped, b.trip = context.WithCancel(context.Background())
	return b
}

// do runs fn against the database with a context bounded by the timeout
// (and by ctx), unless the circuit is open. fn must return only database
// failures: a refusal decided by the caller is not one. A failure opens
// the circuit, unless ctx was cancelled by the caller (a shutdown).
func (b *breaker) do(ctx context.Context, fn func(context.Context) error) error {
	b.mu.Lock()
	if b.st.State != BreakerClosed {
		b.st.Refused++
		last := b.st.LastError
		b.mu.Unlock()
		return fmt.Errorf("%w (last error: %s)", ErrUnavailable, last)
	}
	b.st.Calls++
	tripped := b.tripped
	b.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	stop := context.AfterFunc(tripped, cancel)
	defer stop()
	err := fn(cctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.Canceled):
		return err
	case tripped.Err() != nil:
		// Another call opened the circuit while this one waited on the
		// same database.
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	b.open(err)
	return err
}

// open trips the circuit (closed -> open) and starts the probe.
func (b *breaker) open(err error) {
	b.mu.Lock()
	if b.st.State != BreakerClosed || b.closed {
		b.mu.Unlock()
		return
	}
	b.trip()
	b.st.Trips++
	b.backoff = b.minBackoff
	ev := b.setLocked(BreakerOpen, err)
	b.probeDone = make(chan struct{})
	go b.probeLoop(b.probeDone)
	b.mu.Unlock()
	b.log.Error("cluster: the database did not answer: connects are refused at once (fail closed) until a probe succeeds",
		slog.String("err", err.Error()), slog.Duration("timeout", b.timeout))
	b.emit(ev)
}

// setLocked changes the state (b.mu held) and returns the event.
func (b *breaker) setLocked(to BreakerState, err error) BreakerEvent {
	ev := BreakerEvent{From: b.st.State, To: to, At: time.Now(), Err: err}
	b.st.State, b.st.Since = to, ev.At
	if err != nil {
		b.st.LastError = err.Error()
	}
	b.st.NextProbe = time.Time{}
	return ev
}

func (b *breaker) emit(ev BreakerEvent) {
	if b.onChange != nil {
		b.onChange(ev)
	}
}

// probeLoop asks the database, one probe at a time with a growing
// backoff, until it answers (the circuit closes) or close.
func (b *breaker) probeLoop(done chan struct{}) {
	defer close(done)
	for {
		b.mu.Lock()
		wait := b.backoff
		b.st.NextProbe = time.Now().Add(wait)
		b.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-b.quit.Done():
			t.Stop()
			return
		case <-t.C:
		}
		b.mu.Lock()
		b.st.Probes++
		ev := b.setLocked(BreakerHalfOpen, nil)
		b.mu.Unlock()
		b.emit(ev)
		ctx, cancel := context.WithTimeout(b.quit, b.timeout)
		err := b.probe(ctx)
		cancel()
		b.mu.Lock()
		if err == nil {
			b.tripped, b.trip = context.WithCancel(context.Background())
			b.backoff = b.minBackoff
			ev = b.setLocked(BreakerClosed, nil)
			b.mu.Unlock()
			b.log.Info("cluster: the database answers again: connects are admitted")
			b.emit(ev)
			return
		}
		b.backoff = min(2*b.backoff, b.maxBackoff)
		ev = b.setLocked(BreakerOpen, err)
		b.mu.Unlock()
		b.log.Warn("cluster: database probe failed", slog.String("err", err.Error()), slog.Duration("next_in", b.backoff))
		b.emit(ev)
	}
}

// status is a snapshot.
func (b *breaker) status() BreakerStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st
}

// close stops the probe; calls made afterwards still run (Close's last
// release needs one).
func (b *breaker) close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.stopProbe()
	done := b.probeDone
	b.mu.Unlock()
	if done != nil {
		<-done
	}
}
