package adminapi

import (
	"context"
	"time"

	"github.com/licgate/licgate/directory"

	"github.com/licgate/licgate/portmap"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/certs"
	"github.com/licgate/licgate/ddns"
	"github.com/licgate/licgate/session"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/tunnel"
)

// Backend is what the admin API asks of the running gateway. Every method
// is safe for concurrent use. Errors from the store keep their sentinels
// (store.ErrNotFound, ErrExists, ErrInvalid, ErrExhausted): the API maps
// them onto HTTP codes. ctx carries the acting identity (ActorOf) for the
// audit log; cancelling it abandons the call's waits, never a half-made
// change.
type Backend interface {
	// Health is the daemon's summary.
	Health() Health
	// Now is the clock policy decisions use.
	Now() time.Time
	// Engine is the compiled policy in force (never nil).
	Engine() *acl.Engine

	// Users lists every user.
	Users(ctx context.Context) ([]store.User, error)
	// AddUser creates a user; ErrExists if the name is taken.
	AddUser(ctx context.Context, name, email string) (store.User, error)
	// SetUserDisabled disables (cutting the user's sessions, returned) or
	// enables a user.
	SetUserDisabled(ctx context.Context, name string, disabled bool) (int, error)
	// SetUserExpiry and SetDeviceExpiry set or clear (nil) the moment
	// access ends; sessions past it are cut at once.
	SetUserExpiry(ctx context.Context, name string, expires *time.Time) error
	SetDeviceExpiry(ctx context.Context, user, name string, expires *time.Time) error

	// Devices lists devices (revoked ones too with all).
	Devices(ctx context.Context, all bool) ([]store.Device, error)
	// AddDevice creates a device; publicKey empty generates a key pair
	// and returns the profile (the only time the private key exists).
	AddDevice(ctx context.Context, user, name, publicKey string) (DeviceResult, error)
	// RevokeDevice removes the peer and cuts its sessions (returned).
	RevokeDevice(ctx context.Context, user, name string) (int, error)
	// RekeyDevice replaces the device's key, cutting the old key's sessions.
	RekeyDevice(ctx context.Context, user, name, publicKey string) (DeviceResult, error)

	// Sessions lists live sessions, oldest first.
	Sessions() []session.SessionInfo
	// CutSession ends one live session: 1, or 0 if there is none.
	CutSession(ctx context.Context, id uint64) int
	// Peers lists WireGuard peers with their handshakes.
	Peers() ([]PeerInfo, error)

	// Explain says what the live decision would be for a new session:
	// live counts, the user's disabled flag, their last sign-in.
	Explain(ctx context.Context, req ExplainRequest) (ExplainResult, error)
	// Reload re-reads the config file and puts it in force; an error
	// leaves the running config untouched.
	Reload(ctx context.Context) (ReloadResult, error)
	// Report summarises the audit log over [from, to).
	Report(ctx context.Context, from, to time.Time, by string) (*audit.Report, error)
	// Denials lists refusals in [from, to), newest first, at most limit.
	Denials(ctx context.Context, from, to time.Time, limit int) ([]store.AuditDenialRow, error)

	// DDNS is the dynamic DNS status; DDNSCheck runs a check now (an
	// error when ddns is not configured).
	DDNS() DDNSView
	DDNSCheck(ctx context.Context) (DDNSView, error)

	// CreateEnrollLink makes a single-use enrolment link (ttl 0: the
	// configured default); ErrNoPublicListener without a public listener.
	CreateEnrollLink(ctx context.Context, user, device string, ttl time.Duration) (string, time.Time, error)
	// CARoot is the internal CA's certificate (PEM).
	CARoot() ([]byte, error)
	// Services lists the proxied services with their live counts.
	Services() []ServiceView
	// Certs lists the certificates served.
	Certs() []certs.View
	// DirectoryStatus is the LDAP/AD sync's state (nil without one);
	// DirectorySync asks for a sync now (an error without a directory).
	DirectoryStatus() *directory.Status
	DirectorySync(ctx context.Context) error
	// DirectoryAccept puts the snapshot the safeguard held back in force
	// and describes it; directory.ErrNothingHeld when there is none.
	DirectoryAccept(ctx context.Context) (directory.Held, error)
}

// DirectoryView is GET /api/v1/directory.
type DirectoryView struct {
	Enabled     bool      `json:"enabled"`
	Stale       bool      `json:"stale"`
	Users       int       `json:"users"`
	Groups      int       `json:"groups"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	// Held is a snapshot the safeguard refused (too many users would
	// lose rights at once), waiting for `licgate directory accept`.
	Held *HeldView `json:"held,omitempty"`
}

// HeldView is a snapshot held back by the directory safeguard.
type HeldView struct {
	Read      time.Time `json:"read"`
	Users     int       `json:"users"`
	Last      int       `json:"last"`
	Affected  int       `json:"affected"`
	Removed   int       `json:"removed"`
	Disabled  int       `json:"disabled"`
	Ungrouped int       `json:"ungrouped"`
	Limit     int       `json:"limit"`
	Names     []string  `json:"names"`
}

// NewHeldView presents h.
func NewHeldView(h directory.Held) *HeldView {
	return &HeldView{Read: h.Time, Users: h.Users, Last: h.Last, Affected: h.Affected, Removed: h.Removed,
		Disabled: h.Disabled, Ungrouped: h.Ungrouped, Limit: h.Limit, Names: h.Names}
}

// NewDirectoryView presents st (nil: no directory).
func NewDirectoryView(st *directory.Status) DirectoryView {
	if st == nil {
		return DirectoryView{}
	}
	v := DirectoryView{Enabled: true, Stale: st.Stale, Users: st.Users, Groups: st.Groups, LastSuccess: st.LastSuccess, LastAttempt: st.LastAttempt}
	if st.LastError != nil {
		v.LastError = st.LastError.Error()
	}
	if st.Held != nil {
		v.Held = NewHeldView(*st.Held)
	}
	return v
}

// ErrNoPublicListener: enrolment links need public.listen.
var ErrNoPublicListener = errNoPublic{}

type errNoPublic struct{}

func (errNoPublic) Error() string {
	return "enrolment links need the public listener (public.listen in licgate.yaml)"
}

// Health is GET /api/v1/health.
type Health struct {
	Status     string `json:"status"`
	PublicKey  string `json:"public_key"`
	ListenPort int    `json:"listen_port"`
	Address    string `json:"address"`
	Endpoint   string `json:"endpoint"`
	Sessions   int    `json:"sessions"`
	Devices    int    `json:"devices"`
	// Portmap is the router port mapping (absent when portmap is off).
	Portmap *portmap.Status `json:"portmap,omitempty"`
	// PortmapPublic is the public listener's TCP mapping (with public.listen).
	PortmapPublic *portmap.Status `json:"portmap_public,omitempty"`
	// Cluster is cluster mode's shared database (absent without it).
	Cluster *ClusterHealth `json:"cluster,omitempty"`
}

// ClusterHealth is cluster mode's view of the shared database: its
// circuit breaker, read from memory (health never waits on the database).
type ClusterHealth struct {
	GatewayID string `json:"gateway_id"`
	// Database is the circuit's state: "closed" (admissions ask the
	// database), "open" (the database did not answer: capped connects are
	// refused at once until a probe gets an answer) or "half-open" (a
	// probe is in flight; still refused).
	Database  string    `json:"database"`
	Since     time.Time `json:"since"`
	Trips     int64     `json:"trips"`   // times it opened
	Refused   int64     `json:"refused"` // calls refused at once while not closed
	LastError string    `json:"last_error,omitempty"`
}

// DeviceResult is a device with, when licgate made its keys, the profile
// (shown once).
type DeviceResult struct {
	Device  store.Device    `json:"device"`
	Profile *tunnel.Profile `json:"-"`
	// ProfileText is the wg-quick file; empty when the caller supplied its
	// own public key (it holds the private key then).
	ProfileText string `json:"profile,omitempty"`
	// QR is the profile as a PNG data URL (API answers only).
	QR string `json:"qr,omitempty"`
}

// PeerInfo is a WireGuard peer as the API shows it.
type PeerInfo struct {
	PublicKey     string     `json:"public_key"`
	User          string     `json:"user,omitempty"`
	Device        string     `json:"device,omitempty"`
	Endpoint      string     `json:"endpoint,omitempty"`
	LastHandshake *time.Time `json:"last_handshake,omitempty"`
	// SharedSuspect: the endpoint alternated between two places within
	// minutes (one profile copied to two machines?). Endpoints names them.
	SharedSuspect bool     `json:"shared_suspect,omitempty"`
	Endpoints     []string `json:"shared_endpoints,omitempty"`
}

// ReloadResult answers a reload: sessions cut by the new policy, and the
// changed settings that take effect only after a restart.
type ReloadResult struct {
	SessionsCut   int      `json:"sessions_cut"`
	RestartNeeded []string `json:"restart_needed,omitempty"`
}

// DDNSView is GET /api/v1/ddns.
type DDNSView struct {
	Enabled   bool          `json:"enabled"`
	Host      string        `json:"host,omitempty"`
	Providers []ddns.Status `json:"providers"`
}

// ServiceView is one service on the dashboard.
type ServiceView struct {
	Name      string   `json:"name"`
	Port      int      `json:"port"`
	Protocols []string `json:"protocols"`
	Upstream  string   `json:"upstream"`
	Sessions  int      `json:"sessions"` // TCP sessions: the seats held through licgate
	Pool      int      `json:"pool"`     // services.X.max_sessions; 0: no cap
}
