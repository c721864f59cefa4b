package store

import "time"

// AuditKind says which table an AuditRecord goes to.
type AuditKind uint8

const (
	AuditStart  AuditKind = iota + 1 // a session began
	AuditEnd                         // a session ended (updates its start row)
	AuditDenial                      // a connection was refused
	AuditEvent                       // an admin action
)

// AuditRecord is one audit entry. Key joins a session's start and end.
type AuditRecord struct {
	Kind      AuditKind
	Key       string
	At        time.Time
	User      string
	Device    string
	Service   string
	Proto     string
	Client    string
	Rule      string
	Reason    string
	BytesUp   int64
	BytesDown int64
	EndReason string
	Actor     string // events
	Action    string // events
}

// AuditSession is a session as recorded.
type AuditSession struct {
	Key       string     `json:"-"`
	Start     time.Time  `json:"start"`
	End       *time.Time `json:"end,omitempty"`
	User      string     `json:"user"`
	Device    string     `json:"device"`
	Service   string     `json:"service"`
	Proto     string     `json:"proto"`
	Client    string     `json:"client"`
	Rule      string     `json:"rule"`
	Reason    string     `json:"reason"`
	BytesUp   int64      `json:"bytes_up"`
	BytesDown int64      `json:"bytes_down"`
	EndReason string     `json:"end_reason,omitempty"`
}

// AuditDenialRow is a recorded refusal.
type AuditDenialRow struct {
	At      time.Time `json:"at"`
	User    string    `json:"user,omitempty"`
	Device  string    `json:"device,omitempty"`
	Service string    `json:"service"`
	Proto   string    `json:"proto"`
	Source  string    `json:"source"`
	Rule    string    `json:"rule"`
	Reason  string    `json:"reason"`
}

// AuditEventRow is a recorded admin action.
type AuditEventRow struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Detail string    `json:"detail"`
}

// DDNSHold is why a DDNS provider must not be retried yet, persisted so
// that a restart neither hammers a provider that refused the credentials
// nor forgets a back-off.
type DDNSHold struct {
	// Fatal means the provider refused in a way retrying cannot fix (bad
	// credentials, unknown zone): stay stopped while the configuration's
	// Fingerprint is unchanged.
	Fatal bool `json:"fatal"`
	// Reason is the provider's error, for the status page.
	Reason string `json:"reason"`
	// Fingerprint identifies the provider configuration the hold applies
	// to (e.g. a hash of it); a changed configuration lifts a fatal hold.
	Fingerprint string `json:"fingerprint,omitempty"`
	// BackoffUntil, if not zero, is when the next attempt may run.
	BackoffUntil time.Time `json:"backoff_until,omitzero"`
	// Updated is when the hold was last set (filled in by SetDDNSHold).
	Updated time.Time `json:"updated"`
}

// IsZero reports whether h holds nothing back.
func (h DDNSHold) IsZero() bool {
	return !h.Fatal && h.BackoffUntil.IsZero() && h.Reason == "" && h.Fingerprint == ""
}
