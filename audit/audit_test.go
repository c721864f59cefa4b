package audit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/licgate/licgate/store"
)

// flakyStore fails its first fail writes (a full disk), then stores.
type flakyStore struct {
	mu    sync.Mutex
	fail  int
	calls int
	got   []store.AuditRecord
}

var errDiskFull = errors.New("database or disk is full")

func (s *flakyStore) WriteAudit(_ context.Context, recs []store.AuditRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != 0 {
		if s.fail > 0 {
			s.fail--
		}
		return errDiskFull
	}
	s.got = append(s.got, recs...)
	return nil
}

func (s *flakyStore) stored() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// A batch that fails is retried until the store takes it: nothing is lost
// to a passing disk-full, and Sync returns only once it is written.
func TestFailedBatchIsRetried(t *testing.T) {
	defer goleak.VerifyNone(t)
	st := &flakyStore{fail: 3}
	w := New(st, nil)
	w.Backoff = time.Millisecond
	w.Start()
	defer w.Close()
	for i := 0; i < 43; i++ {
		w.Record(store.AuditRecord{Kind: store.AuditEvent, Action: "x"})
	}
	if err := w.SyncTimeout(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if st.stored() != 43 || w.Dropped() != 0 || w.Written() != 43 || w.Failed() != 3 {
		t.Fatalf("stored %d written %d dropped %d failed %d; want 43 43 0 3", st.stored(), w.Written(), w.Dropped(), w.Failed())
	}
}

// A store that never recovers: after MaxRetry the records are dropped,
// and the drop is counted (it was silent before).
func TestDropsAreCounted(t *testing.T) {
	defer goleak.VerifyNone(t)
	st := &flakyStore{fail: -1}
	w := New(st, nil)
	w.Backoff, w.MaxRetry = time.Millisecond, 20*time.Millisecond
	w.Start()
	defer w.Close()
	for i := 0; i < 43; i++ {
		w.Record(store.AuditRecord{Kind: store.AuditEvent})
	}
	if err := w.SyncTimeout(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if w.Dropped() != 43 || w.Written() != 0 {
		t.Fatalf("dropped %d written %d; want 43 0", w.Dropped(), w.Written())
	}
}

// Sync is a barrier: every record queued before it is in the store when
// it returns, with no sleep in between.
func TestSyncIsABarrier(t *testing.T) {
	defer goleak.VerifyNone(t)
	st := &flakyStore{}
	w := New(st, nil)
	w.Start()
	defer w.Close()
	for round := 1; round <= 20; round++ {
		w.Record(store.AuditRecord{Kind: store.AuditEvent})
		if err := w.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st.stored() != round {
			t.Fatalf("after sync %d: %d stored", round, st.stored())
		}
	}
}

// Close flushes what was queued; a record after Close (a proxy goroutine
// finishing late) is counted, not a panic; Close twice says so.
func TestCloseFlushesAndLateRecordIsSafe(t *testing.T) {
	defer goleak.VerifyNone(t)
	st := &flakyStore{}
	w := New(st, nil)
	w.Start()
	for i := 0; i < 300; i++ {
		w.Record(store.AuditRecord{Kind: store.AuditEvent})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if st.stored() != 300 {
		t.Fatalf("close flushed %d of 300", st.stored())
	}
	w.Record(store.AuditRecord{Kind: store.AuditEvent})
	if w.Dropped() != 1 {
		t.Fatalf("late record: dropped %d, want 1", w.Dropped())
	}
	if err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
	if err := w.SyncTimeout(time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("sync after close: %v", err)
	}
}

// Close of a writer never started returns at once.
func TestCloseUnstarted(t *testing.T) {
	w := New(&flakyStore{}, nil)
	w.Record(store.AuditRecord{})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
