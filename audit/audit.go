package audit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licgate/licgate/store"
)

// Store is what the writer needs of the state store.
type Store interface {
	// WriteAudit stores recs in one transaction: all or none.
	WriteAudit(ctx context.Context, recs []store.AuditRecord) error
}

// ErrClosed is returned by Sync after Close.
var ErrClosed = errors.New("audit: closed")

// Writer writes audit records off the data path: Record hands a record to
// a buffered queue and never waits on the database; one goroutine batches
// records into transactions. A failed batch is retried with back-off (a
// full disk often clears); records are dropped only when the queue is full
// or a batch keeps failing for MaxRetry, and every drop is counted and
// logged, never silent.
//
// Lifecycle: New -> Start -> Close. Record after Close is
// safe: the record is counted as dropped.
type Writer struct {
	// MaxRetry is how long a failing batch is retried before it is
	// dropped. If zero, 5m.
	MaxRetry time.Duration
	// Backoff is the first retry delay, doubled up to 30s. If zero, 100ms.
	Backoff time.Duration

	st   Store
	log  *slog.Logger
	ch   chan item
	stop chan struct{}
	done chan struct{}
	once sync.Once

	mu      sync.RWMutex // held shared by Record, exclusively by Close
	closed  bool
	started atomic.Bool

	dropped atomic.Int64
	written atomic.Int64
	failed  atomic.Int64 // failed write attempts
	pending atomic.Int64 // records in a batch being retried
}

type item struct {
	rec     store.AuditRecord
	barrier chan struct{} // non-nil: a Sync marker, closed once all before it is written
}

// New returns a writer for st; logger may be nil. Nothing runs until Start.
func New(st Store, logger *slog.Logger) *Writer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Writer{st: st, log: logger, ch: make(chan item, 8192), stop: make(chan struct{}), done: make(chan struct{})}
}

// Record queues r without blocking.
func (w *Writer) Record(r store.AuditRecord) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.drop(1, "audit writer closed")
		return
	}
	select {
	case w.ch <- item{rec: r}:
	default:
		w.drop(1, "audit queue full")
	}
}

func (w *Writer) drop(n int64, why string) {
	if total := w.dropped.Add(n); total == n || total%1000 < n {
		w.log.Error("audit records dropped", slog.String("why", why), slog.Int64("dropped", total))
	}
}

// Sync waits until every record queued before it is written (or dropped
// after its retries): a barrier through the queue, not a sleep.
func (w *Writer) Sync(ctx context.Context) error {
	b := make(chan struct{})
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return ErrClosed
	}
	select {
	case w.ch <- item{barrier: b}:
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	w.mu.RUnlock()
	select {
	case <-b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-w.done:
		return ErrClosed
	}
}

// SyncTimeout is Sync bounded by d.
func (w *Writer) SyncTimeout(d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return w.Sync(ctx)
}

// Counters: records written, dropped, failed write attempts, and records
// waiting in a batch that is being retried.
func (w *Writer) Written() int64 { return w.written.Load() }
func (w *Writer) Dropped() int64 { return w.dropped.Load() }
func (w *Writer) Failed() int64  { return w.failed.Load() }
func (w *Writer) Pending() int64 { return w.pending.Load() }

func (w *Writer) maxRetry() time.Duration {
	if w.MaxRetry == 0 {
		return 5 * time.Minute
	}
	return w.MaxRetry
}

func (w *Writer) backoff() time.Duration {
	if w.Backoff == 0 {
		return 100 * time.Millisecond
	}
	return w.Backoff
}

// Start runs the writer in a goroutine of its own.
func (w *Writer) Start() {
	if w.started.CompareAndSwap(false, true) {
		go w.run()
	}
}

// run batches records until Close; it returns when everything queued
// before Close is written (or dropped).
func (w *Writer) run() {
	defer close(w.done)
	const maxBatch = 256
	batch := make([]store.AuditRecord, 0, maxBatch)
	var barriers []chan struct{}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	flush := func(final bool) {
		if len(batch) > 0 {
			w.write(batch, final)
			batch = batch[:0]
		}
		for _, b := range barriers {
			close(b)
		}
		barriers = barriers[:0]
	}
	take := func(it item) {
		if it.barrier != nil {
			barriers = append(barriers, it.barrier)
			flush(false)
			return
		}
		batch = append(batch, it.rec)
		if len(batch) == maxBatch {
			flush(false)
		}
	}
	for {
		select {
		case it := <-w.ch:
			take(it)
		case <-tick.C:
			flush(false)
		case <-w.stop:
			for {
				select {
				case it := <-w.ch:
					take(it)
				default:
					flush(true)
					return
				}
			}
		}
	}
}

// write stores batch, retrying with back-off. On the final flush (Close)
// it tries a few times only, so a stop is not held up for minutes.
func (w *Writer) write(batch []store.AuditRecord, final bool) {
	n := int64(len(batch))
	w.pending.Store(n)
	defer w.pending.Store(0)
	delay, deadline := w.backoff(), time.Now().Add(w.maxRetry())
	for attempt := 1; ; attempt++ {
		err := w.st.WriteAudit(context.Background(), batch)
		if err == nil {
			w.written.Add(n)
			if attempt > 1 {
				w.log.Info("audit write recovered", slog.Int("attempts", attempt), slog.Int64("records", n))
			}
			return
		}
		w.failed.Add(1)
		w.log.Error("audit write failed; retrying", slog.Int("attempt", attempt), slog.Int64("records", n), slog.String("err", err.Error()))
		if time.Now().Add(delay).After(deadline) || final && attempt >= 3 {
			w.drop(n, "audit write kept failing: "+err.Error())
			return
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-w.stop:
			t.Stop()
			if !final {
				final = true // Close arrived: a few more tries, then give up
			}
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// Close flushes what is queued and stops Run. Records after Close are
// dropped (and counted). A second Close returns ErrClosed.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	w.closed = true
	w.mu.Unlock()
	w.once.Do(func() { close(w.stop) })
	if w.started.Load() {
		<-w.done
	}
	return nil
}
