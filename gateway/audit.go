package gateway

import (
	"context"
	"github.com/licgate/licgate/session"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/licgate/licgate/store"
)

// auditor writes audit records off the data path: the proxy hands records
// to a buffered channel and never waits on the database; one goroutine
// batches them into transactions. If the buffer is full (the disk is far
// behind), records are dropped and counted rather than stalling sessions.
type auditor struct {
	st      *store.Store
	log     *slog.Logger
	ch      chan store.AuditRecord
	done    chan struct{}
	dropped atomic.Int64
	written atomic.Int64
	boot    string // distinguishes session keys across restarts
}

func newAuditor(st *store.Store, log *slog.Logger) *auditor {
	return &auditor{st: st, log: log, ch: make(chan store.AuditRecord, 8192), done: make(chan struct{}),
		boot: strconv.FormatInt(time.Now().UnixNano(), 36)}
}

func (a *auditor) key(id uint64) string { return a.boot + "-" + strconv.FormatUint(id, 10) }

// record queues r without blocking.
func (a *auditor) record(r store.AuditRecord) {
	select {
	case a.ch <- r:
	default:
		if a.dropped.Add(1)%1000 == 1 {
			a.log.Warn("audit log behind: records dropped", slog.Int64("dropped", a.dropped.Load()))
		}
	}
}

// run batches records until the channel is closed, then flushes.
func (a *auditor) run() {
	defer close(a.done)
	const maxBatch = 256
	batch := make([]store.AuditRecord, 0, maxBatch)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := a.st.WriteAudit(context.Background(), batch); err != nil {
			a.log.Error("audit write failed", slog.Int("records", len(batch)), slog.String("err", err.Error()))
		} else {
			a.written.Add(int64(len(batch)))
		}
		batch = batch[:0]
	}
	for {
		select {
		case r, ok := <-a.ch:
			if !ok {
				flush()
				return
			}
			batch = append(batch, r)
			if len(batch) == maxBatch {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

// close flushes and stops. Records sent after close panic: the gateway
// stops the proxies first.
func (a *auditor) close() {
	close(a.ch)
	<-a.done
}

// sync waits until everything queued so far is written (tests, reports).
func (a *auditor) sync(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for len(a.ch) > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	// One more tick for the batch in hand.
	time.Sleep(120 * time.Millisecond)
}

func (g *Gateway) auditStart(s *session.Session) {
	g.audit.record(store.AuditRecord{Kind: store.AuditStart, Key: g.audit.key(s.ID), At: s.Start, User: s.User, Device: s.Device,
		Service: s.Service, Proto: s.Proto, Client: s.Client.String(), Rule: g.ruleLabel(s.Rule), Reason: s.Reason})
}

func (g *Gateway) auditEnd(s *session.Session, reason string) {
	g.audit.record(store.AuditRecord{Kind: store.AuditEnd, Key: g.audit.key(s.ID), At: time.Now(),
		BytesUp: s.Up.Load(), BytesDown: s.Down.Load(), EndReason: reason})
}

func (g *Gateway) auditDenial(d session.Denial) {
	g.audit.record(store.AuditRecord{Kind: store.AuditDenial, At: d.Time, User: d.User, Device: d.Device, Service: d.Service,
		Proto: d.Proto, Client: d.Source.String(), Rule: g.ruleLabel(d.Rule), Reason: d.Reason})
}

func (g *Gateway) auditEvent(actor, action, detail string) {
	g.audit.record(store.AuditRecord{Kind: store.AuditEvent, At: time.Now(), Actor: actor, Action: action, Reason: detail})
}

func (g *Gateway) ruleLabel(i int) string {
	if i < 0 {
		return "default"
	}
	return g.engine.Load().RuleLabel(i)
}

// auditCount reads a counter of the auditor (0 before Start).
func (g *Gateway) auditCount(f func(*auditor) int64) int64 {
	if g.audit == nil {
		return 0
	}
	return f(g.audit)
}
