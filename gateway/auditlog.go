package gateway

import (
	"context"
	"time"

	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/session"
)

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
	eng := g.Engine()
	loc := eng.Location() // the office's zone: bounds and hourly buckets in it
	return audit.BuildReport(ctx, g.st, eng.GroupsOf, from.In(loc), to.In(loc), time.Now().In(loc), by)
}
