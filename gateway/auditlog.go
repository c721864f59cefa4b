package gateway

import (
	"context"
	"strconv"
	"time"

	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/session"
	"github.com/licgate/licgate/store"
)

// sessionKey is the audit key of a session: the table's IDs are unique
// across restarts (they start at a persisted epoch), the boot prefix keeps
// keys apart even on a store that predates the epoch.
func (g *Gateway) sessionKey(id uint64) string { return g.boot + "-" + strconv.FormatUint(id, 10) }

func (g *Gateway) auditStart(s *session.Session) {
	g.audit.Record(store.AuditRecord{Kind: store.AuditStart, Key: g.sessionKey(s.ID), At: s.Start, User: s.User, Device: s.Device,
		Service: s.Service, Proto: s.Proto, Client: s.Client.String(), Rule: g.ruleLabel(s.Rule), Reason: s.Reason})
}

func (g *Gateway) auditEnd(s *session.Session, reason string) {
	g.audit.Record(store.AuditRecord{Kind: store.AuditEnd, Key: g.sessionKey(s.ID), At: time.Now(),
		BytesUp: s.Up.Load(), BytesDown: s.Down.Load(), EndReason: reason})
}

func (g *Gateway) auditDenial(d session.Denial) {
	g.audit.Record(store.AuditRecord{Kind: store.AuditDenial, At: d.Time, User: d.User, Device: d.Device, Service: d.Service,
		Proto: d.Proto, Client: d.Source.String(), Rule: g.ruleLabel(d.Rule), Reason: d.Reason})
}

func (g *Gateway) auditEvent(actor, action, detail string) {
	g.audit.Record(store.AuditRecord{Kind: store.AuditEvent, At: time.Now(), Actor: actor, Action: action, Reason: detail})
}

func (g *Gateway) ruleLabel(i int) string {
	if i < 0 {
		return "default"
	}
	return g.engine.Load().RuleLabel(i)
}

// SyncAudit waits until sessions already cut have ended and every audit
// record queued so far is written: a barrier, not a sleep.
func (g *Gateway) SyncAudit() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g.sessions.WaitGone(ctx, session.IsCut)
	g.audit.Sync(ctx)
}

// AuditStats are the audit writer's counters.
func (g *Gateway) AuditStats() (written, dropped, failed int64) {
	return g.audit.Written(), g.audit.Dropped(), g.audit.Failed()
}

// Report summarises the audit log over [from, to) by user, group or service.
func (g *Gateway) Report(ctx context.Context, from, to time.Time, by string) (*audit.Report, error) {
	g.audit.SyncTimeout(2 * time.Second)
	eng := g.engine.Load()
	loc := eng.Location() // the office's zone: bounds and hourly buckets in it
	return audit.BuildReport(ctx, g.st, eng.GroupsOf, from.In(loc), to.In(loc), time.Now().In(loc), by)
}
