package audit

import (
	"strconv"
	"time"

	"github.com/licgate/licgate/session"
	"github.com/licgate/licgate/store"
)

// Event records an admin or system action (user.add, device.revoke,
// ddns.address_change...) by actor, with detail in its reason.
func (w *Writer) Event(actor, action, detail string) {
	w.Record(store.AuditRecord{Kind: store.AuditEvent, At: time.Now(), Actor: actor, Action: action, Reason: detail})
}

// Sessions turns the session table's starts and ends and the proxy's
// refusals into audit records written by W.
//
// Typical usage:
//
//	al := &audit.Sessions{W: w, Prefix: boot, RuleLabel: eng.RuleLabel}
//	table.OnStart, table.OnEnd = al.Start, al.End
type Sessions struct {
	W *Writer
	// Prefix starts every session's key: the table's IDs are unique
	// across restarts (they start at a persisted epoch), the prefix (a
	// boot stamp, in a cluster after the gateway's ID) keeps keys apart
	// even on a store that predates the epoch, and between gateways.
	Prefix string
	// RuleLabel names rule i of the policy in force (i >= 0).
	RuleLabel func(i int) string
}

// Key is the audit key of the session with table ID id.
func (a *Sessions) Key(id uint64) string { return a.Prefix + "-" + strconv.FormatUint(id, 10) }

func (a *Sessions) rule(i int) string {
	if i < 0 || a.RuleLabel == nil {
		return "default"
	}
	return a.RuleLabel(i)
}

// Start records that s was admitted.
func (a *Sessions) Start(s *session.Session) {
	a.W.Record(store.AuditRecord{Kind: store.AuditStart, Key: a.Key(s.ID), At: s.Start, User: s.User, Device: s.Device,
		Service: s.Service, Proto: s.Proto, Client: s.Client.String(), Rule: a.rule(s.Rule), Reason: seatReason(s)})
}

// End records that s ended for reason, with its byte counts.
func (a *Sessions) End(s *session.Session, reason string) {
	a.W.Record(store.AuditRecord{Kind: store.AuditEnd, Key: a.Key(s.ID), At: time.Now(),
		BytesUp: s.Up.Load(), BytesDown: s.Down.Load(), EndReason: reason})
}

// Denial records a refused connection.
func (a *Sessions) Denial(d session.Denial) {
	a.W.Record(store.AuditRecord{Kind: store.AuditDenial, At: d.Time, User: d.User, Device: d.Device, Service: d.Service,
		Proto: d.Proto, Client: d.Source.String(), Rule: a.rule(d.Rule), Reason: d.Reason})
}
