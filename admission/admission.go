package admission

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/identity"
	"github.com/licgate/licgate/session"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/tunnel"
)

// SharedCounts are the other gateways' sessions (cluster mode); nil on a
// single gateway. Each call is bounded (the cluster's circuit breaker).
type SharedCounts interface {
	// Counts are the live counts of every gateway (for Explain).
	Counts(ctx context.Context) (acl.Counts, error)
	// Before returns, for one re-evaluation, what adds to the local
	// counts the other gateways' sessions admitted before shared session
	// id (id 0: none); nil when they cannot be read (then only this
	// gateway's sessions count until the next re-evaluation).
	Before(ctx context.Context) func(id int64, local acl.Counts) acl.Counts
	// Update records that shared session id now counts against rule and
	// groups.
	Update(ctx context.Context, id int64, rule int, groups []string) error
}

// Identities are who stands behind each tunnel address (identity.Manager).
type Identities interface {
	Snapshot() identity.Snapshot
	// ExpireDue cuts the sessions of devices whose expiry passed.
	ExpireDue(ctx context.Context) int
}

// Store is what admission reads of the state store.
type Store interface {
	User(ctx context.Context, name string) (store.User, error)
	Devices(ctx context.Context, all bool) ([]store.Device, error)
	PruneAudit(ctx context.Context, before time.Time) (int64, error)
}

// Settings are the configured values admission reads (the config is
// swapped whole on reload).
type Settings struct {
	// WindowGrace lets a session whose time window closed run on this
	// long (0: cut at once).
	WindowGrace time.Duration
	// Portal is the tunnel portal's address, named in sign-in refusals.
	Portal string
	// UnlockUser: a sign-in without a device unlocks all the user's
	// devices (signin.unlock: user).
	UnlockUser bool
	// Interval is the enforcement loop's period; VanishedAfter how long
	// a peer may stay silent before its sessions are cut; AuditRetention
	// how long audit records are kept.
	Interval, VanishedAfter, AuditRetention time.Duration
}

// Deps are what a Controller is given; Engine, Sessions, Identities,
// Store and Settings are required.
type Deps struct {
	Engine     *acl.Engine
	Sessions   *session.SessionTable
	Identities Identities
	Store      Store
	Settings   func() Settings
	// Shared is nil on a single gateway.
	Shared SharedCounts
	// Peers lists the tunnel's peers (vanished-peer check); OnPeers, if
	// set, sees them on every check (shared-device detection).
	Peers   func() ([]tunnel.PeerStatus, error)
	OnPeers func([]tunnel.PeerStatus)
	// Services are the configured services (who holds seats: Licenses);
	// Status reads a FlexNet or RLM server's own status (if nil,
	// RunStatus: the vendor's tool on PATH).
	Services func() []Service
	Status   StatusFunc
	// Now is the clock policy decisions use. If nil, time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Controller authorizes connections and keeps live sessions within the
// policy. Its methods are safe for concurrent use.
type Controller struct {
	d       Deps
	log     *slog.Logger
	engine  atomic.Pointer[acl.Engine]
	signins atomic.Pointer[map[signinKey]time.Time]
	signMu  sync.Mutex     // serialises RecordSignIn
	heard   tunnel.Silence // when each peer was last heard (the loop only)
	status  statusMemo     // license servers' status, reused briefly (licenses.go)
}

// New returns a Controller with d.Engine in force.
func New(d Deps) *Controller {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Controller{d: d, log: d.Logger}
	c.engine.Store(d.Engine)
	return c
}

// Engine is the compiled policy in force.
func (c *Controller) Engine() *acl.Engine { return c.engine.Load() }

// SetEngine puts eng in force for the next decisions; Reevaluate applies
// it to live sessions.
func (c *Controller) SetEngine(eng *acl.Engine) { c.engine.Store(eng) }

// denyKinds maps the engine's decision kinds onto denial classes.
var denyKinds = map[acl.Kind]string{
	acl.KindRule:           session.DenyKindRule,
	acl.KindDefault:        session.DenyKindDefault,
	acl.KindOutsideWindow:  session.DenyKindHours,
	acl.KindExpired:        session.DenyKindExpired,
	acl.KindCap:            session.DenyKindCap,
	acl.KindUnknownService: session.DenyKindService,
	acl.KindDisabled:       session.DenyKindDisabled,
	acl.KindSignIn:         session.DenyKindSignIn,
}

// Authorize asks the policy engine (the proxy's Authorize). counts is nil
// for the quick check before dialling (caps unchecked) and the live
// counts under the session table lock (in cluster mode: every gateway's,
// through the table's Shared).
func (c *Controller) Authorize(id *session.Identity, service string, counts acl.Counts) (session.Admission, error) {
	if id.UserDisabled {
		return session.Admission{}, &session.DenyError{Rule: -1, Kind: session.DenyKindDisabled, Reason: "user " + id.User + " is disabled"}
	}
	eng := c.engine.Load()
	d := eng.Decide(c.request(id, service, c.d.Now(), counts))
	if !d.Allow {
		reason := d.Reason
		if d.Kind == acl.KindSignIn {
			reason += c.portalHint()
		}
		return session.Admission{}, &session.DenyError{Rule: d.Rule, Kind: denyKinds[d.Kind], Reason: reason}
	}
	return session.Admission{Rule: d.Rule, Reason: d.Reason, Groups: eng.GroupsOf(id.User)}, nil
}

// request is what the engine is asked about id using service at now.
func (c *Controller) request(id *session.Identity, service string, now time.Time, counts acl.Counts) acl.Request {
	return acl.Request{User: id.User, Device: id.Device, Service: service, Source: id.Address, Time: now,
		UserDisabled: id.UserDisabled, LastSignIn: c.LastSignIn(id.User, id.Device), Counts: counts}
}

// portalHint names where a user signs in to unlock: the portal, which every
// device may open (the tunnel listener's "/" is the admin console).
func (c *Controller) portalHint() string { return ": https://" + c.d.Settings().Portal + "/portal" }

// Explain says what the live decision would be for a new session of the
// request's user and device now (or at req.At): with the live counts, the
// user's disabled flag and their last sign-in, exactly as admission asks.
func (c *Controller) Explain(ctx context.Context, req adminapi.ExplainRequest) (adminapi.ExplainResult, error) {
	eng := c.engine.Load()
	at := c.d.Now()
	if req.At != "" {
		var err error
		if at, err = eng.ParseTime(req.At); err != nil {
			return adminapi.ExplainResult{}, err
		}
	}
	id := &session.Identity{User: req.User, Device: req.Device}
	if u, err := c.d.Store.User(ctx, req.User); err == nil {
		id.UserDisabled = u.Disabled
	}
	if ds, err := c.d.Store.Devices(ctx, false); err == nil {
		for _, d := range ds {
			if d.User == req.User && d.Name == req.Device {
				id.Address = d.Address
			}
		}
	}
	var x acl.Explanation
	if c.d.Shared != nil { // caps count every gateway's sessions
		counts, err := c.d.Shared.Counts(ctx)
		if err != nil {
			return adminapi.ExplainResult{}, err
		}
		x = eng.Explain(c.request(id, req.Service, at, counts))
	} else {
		c.d.Sessions.WithCounts(&session.Session{Proto: "tcp", User: req.User, Device: req.Device, Service: req.Service}, func(counts acl.Counts) {
			x = eng.Explain(c.request(id, req.Service, at, counts))
		})
	}
	return adminapi.ExplainResult{Allow: x.Allow, Rule: x.Rule, Reason: x.Reason, Kind: x.Kind.String(), Explain: x.Text}, nil
}
