package cluster

import (
	"time"

	"github.com/licgate/licgate/acl"
)

// Session is a shared session row.
type Session struct {
	ID         int64     `json:"id"`
	Gateway    string    `json:"gateway"`
	User       string    `json:"user"`
	Device     string    `json:"device"`
	Service    string    `json:"service"`
	Rule       int       `json:"rule"`
	Groups     []string  `json:"groups,omitempty"`
	Started    time.Time `json:"started"`
	LeaseUntil time.Time `json:"lease_until"`
}

// Decision is what decide returns when it admits a session: the rule
// index (of the policy every gateway shares) and the user's groups, which
// later admissions count against rule and group pools.
type Decision struct {
	Rule   int
	Groups []string
}

// Counts are the live sessions of the whole cluster; an acl.Counts.
type Counts struct {
	Device  map[[2]string]int
	User    map[string]int
	Rule    map[int]int
	Group   map[string]int
	Service map[string]int
}

var _ acl.Counts = (*Counts)(nil)

func (n *Counts) DeviceSessions(u, d string) int { return n.Device[[2]string{u, d}] }
func (n *Counts) UserSessions(u string) int      { return n.User[u] }
func (n *Counts) RuleSessions(i int) int         { return n.Rule[i] }
func (n *Counts) GroupSessions(g string) int     { return n.Group[g] }
func (n *Counts) ServiceSessions(s string) int   { return n.Service[s] }

func newCounts() *Counts {
	return &Counts{Device: map[[2]string]int{}, User: map[string]int{}, Rule: map[int]int{}, Group: map[string]int{}, Service: map[string]int{}}
}

// Kind says what changed.
type Kind string

const (
	KindUsers   Kind = "users"   // users added, disabled, expiry changed: reload users
	KindDevices Kind = "devices" // devices added, rekeyed, expiry changed: reload peers
	KindRevoke  Kind = "revoke"  // device User/Device revoked: drop the peer, cut its sessions
	KindDisable Kind = "disable" // user User disabled: cut the user's sessions
	KindPolicy  Kind = "policy"  // the ACL policy changed: reload and re-evaluate sessions
	KindSignIn  Kind = "signin"  // user User signed in at the portal At: rules with a signin window admit them
	// KindResync is delivered by Watch itself after it (re)connected:
	// changes sent meanwhile are lost, so reload everything.
	KindResync Kind = "resync"
)

// Change is one notification.
type Change struct {
	Kind   Kind   `json:"kind"`
	User   string `json:"user,omitempty"`
	Device string `json:"device,omitempty"`
	// At is when it happened, where that matters (KindSignIn).
	At time.Time `json:"at,omitzero"`
	// Origin is the GatewayID that sent it (filled in by Notify); a
	// gateway sees its own changes too.
	Origin string `json:"origin,omitempty"`
}
