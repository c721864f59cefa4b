package portal

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/cluster"
	"github.com/licgate/licgate/enroll"
	"github.com/licgate/licgate/identity"
	"github.com/licgate/licgate/internal/atomicfile"
	"github.com/licgate/licgate/mail"
	"github.com/licgate/licgate/session"
	"github.com/licgate/licgate/signin"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/tunnel"
)

// Identities is what the portal asks of the identity manager.
type Identities interface {
	// Identify is who stands behind a tunnel address.
	Identify(a netip.Addr) (*session.Identity, bool)
	// AddUser creates a user (sign-in enrolment of a new person).
	AddUser(ctx context.Context, name, email string) (store.User, error)
	// AddDeviceWithin adds a device within the user's device limit,
	// atomically (store.ErrLimit beyond it).
	AddDeviceWithin(ctx context.Context, nd store.NewDevice, max int) (store.Device, error)
	// RequestDevice records a device that waits for approval until until
	// (store.ErrLimit, store.ErrPendingLimit beyond the bounds); no peer.
	RequestDevice(ctx context.Context, nd store.NewDevice, max, maxPending int, until time.Time) (store.Device, error)
	// DeviceResult carries a new device's profile.
	DeviceResult(d store.Device, priv tunnel.Key) adminapi.DeviceResult
	// Notify tells the other gateways of a change (a sign-in).
	Notify(ch cluster.Change)
}

// SignIns are the sign-in windows (admission.Controller).
type SignIns interface {
	RecordSignIn(user, device string, at time.Time)
	LastSignIn(user, device string) time.Time
	SignInWindow() time.Duration
}

// Store is what the portal reads of the state store.
type Store interface {
	Users(ctx context.Context) ([]store.User, error)
	Device(ctx context.Context, user, name string) (store.Device, error)
}

// Recorder receives audit events (audit.Writer).
type Recorder interface {
	Event(actor, action, detail string)
}

// Settings are the configured values the portal reads (the config is
// swapped whole on reload).
type Settings struct {
	// StateDir holds signin.key.
	StateDir string
	// TunnelAddress is the gateway's tunnel address (the portal's host).
	TunnelAddress string
	// SignIn: a sign-in provider is configured (signin.issuer).
	SignIn bool
	// UnlockUser: a sign-in unlocks every device of the user, also
	// without the portal's link (signin.unlock: user).
	UnlockUser bool
	// EnrolEnabled lets signed-in people add their own devices, at most
	// MaxDevices each (signin.enrol).
	EnrolEnabled bool
	MaxDevices   int
	// NeedsApproval says whether a sign-in enrolment of a user in groups
	// waits for an admin (signin.enrol.approval); nil: never.
	NeedsApproval func(groups []string) bool
	// ApprovalTTL is how long a request waits; MaxPending bounds the
	// requests of all users together.
	ApprovalTTL time.Duration
	MaxPending  int
	// Notify are the admins mailed of each request; Organization names
	// the office in the message, ConsoleURL where the queue is ("": none).
	Notify       []string
	Organization string
	ConsoleURL   string
}

// Deps are what a Portal is given; all but Now and Logger are required.
type Deps struct {
	Store      Store
	Identities Identities
	SignIns    SignIns
	Audit      Recorder
	Settings   func() Settings
	// SigninConfig is the relying party's configuration for the public
	// callback URL redirect and the cookie key.
	SigninConfig func(redirect string, key []byte) signin.Config
	// PublicURL is the public listener's base URL; PublicUp reports
	// whether the public listener runs (sign-in links need it).
	PublicURL func() string
	PublicUp  func() bool
	// GroupsOf lists a user's policy groups (directory groups included),
	// for signin.enrol.approval_groups. If nil, none.
	GroupsOf func(user string) []string
	// Mail sends a message through the configured SMTP server; nil when
	// there is none (Settings.Notify is then empty).
	Mail func(ctx context.Context, msg mail.Message) error
	// Now is the clock device tokens are judged by. If nil, time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Portal is the tunnel portal and sign-in enrolment. Its methods are
// safe for concurrent use.
type Portal struct {
	d         Deps
	log       *slog.Logger
	keyMu     sync.Mutex             // serialises making signin.key
	unlockKey atomic.Pointer[[]byte] // signs the cookie and the device tokens
}

// The portal is the public listener's sign-in backend.
var _ enroll.SignInBackend = (*Portal)(nil)

// New returns a Portal; nothing runs until a request arrives.
func New(d Deps) *Portal {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return &Portal{d: d, log: d.Logger}
}

// Provider builds the OpenID Connect relying party, with a cookie
// key kept in the state directory (so sign-ins in flight survive a
// restart). Discovery waits for the first sign-in: a provider that is
// down at start does not stop licgate.
func (p *Portal) Provider() (*signin.Provider, error) {
	key, err := p.signinKey()
	if err != nil {
		return nil, err
	}
	cfg := p.d.SigninConfig(p.d.PublicURL()+"/signin/callback", key)
	rp, err := signin.New(cfg, p.log.With(slog.String("component", "signin")))
	if err != nil {
		return nil, err
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := rp.Check(ctx); err != nil {
			p.log.Warn("sign-in provider not reachable yet (sign-ins will retry)", slog.String("err", err.Error()))
		}
	}()
	return rp, nil
}

// userFor maps a signed-in identity to a licgate user: the one whose
// stored e-mail is the identity's verified address (signin.SameAddress:
// whole address, ASCII case folded). Never by name or local part: an
// account alice@gmail.com is not the user alice (issue 23). ErrNotFound
// when no user has that address, with the user an enrolment would create.
func (p *Portal) userFor(ctx context.Context, id signin.Identity) (store.User, error) {
	if id.Address == "" {
		return store.User{}, errors.New("signin: the identity has no verified address")
	}
	users, err := p.d.Store.Users(ctx)
	if err != nil {
		return store.User{}, err
	}
	var found []store.User
	for _, u := range users {
		if signin.SameAddress(u.Email, id.Address) {
			found = append(found, u)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
	default:
		return store.User{}, fmt.Errorf("signin: %d users have the address %s: give each user their own", len(found), id.Address)
	}
	// A new user for enrolment, named after the local part; a name taken
	// by a user with another address is refused, never shared.
	name, _, _ := strings.Cut(id.Address, "@")
	name = strings.ToLower(name)
	if err := store.ValidName(name); err != nil {
		return store.User{}, fmt.Errorf("signin: %s cannot become a user name: %w", id.Address, err)
	}
	for _, u := range users {
		if u.Name == name {
			return store.User{}, fmt.Errorf("signin: %s is not the user %s (whose e-mail is %q): an admin must add this account", id.Address, name, u.Email)
		}
	}
	return store.User{Name: name, Email: id.Address}, store.ErrNotFound
}

// SignedIn records a sign-in at the public portal. For enrolment, a
// person the provider let in but licgate does not know yet becomes a user
// (named after their address); for unlocking, they must exist. bind is the
// device token of the tunnel portal's sign-in link ("" when the sign-in did
// not start there): with signin.unlock: device (the default) an unlock
// needs it and unlocks that device only (enroll.ErrNeedDevice without).
func (p *Portal) SignedIn(ctx context.Context, id signin.Identity, purpose, bind string) (string, time.Time, error) {
	device := ""
	if purpose == enroll.PurposeUnlock {
		var err error
		if device, err = p.unlockDevice(id, bind); err != nil {
			return "", time.Time{}, err
		}
	}
	u, err := p.userFor(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound) && purpose == enroll.PurposeEnroll && p.d.Settings().EnrolEnabled:
		if u, err = p.d.Identities.AddUser(audit.WithActor(ctx, "signin "+id.Address), u.Name, u.Email); err != nil {
			return "", time.Time{}, err
		}
	case err != nil:
		return "", time.Time{}, err
	}
	if u.Disabled {
		return "", time.Time{}, fmt.Errorf("user %s is disabled", u.Name)
	}
	if purpose == enroll.PurposeUnlock {
		if device != "" {
			if err := p.checkUnlockDevice(ctx, u.Name, bind); err != nil {
				return "", time.Time{}, err
			}
		}
		p.d.SignIns.RecordSignIn(u.Name, device, id.At)
		p.d.Identities.Notify(cluster.Change{Kind: cluster.KindSignIn, User: u.Name, Device: device, At: id.At}) // unlocks on every gateway
	}
	p.d.Audit.Event("signin "+id.Address, "signin."+purpose, u.Name)
	return u.Name, id.At.Add(p.d.SignIns.SignInWindow()), nil
}

// signinKey is the sign-in key in state_dir/signin.key (32 random bytes,
// made on first use): it signs the sign-in cookie and the portal's device
// tokens, so sign-ins in flight survive a restart.
func (p *Portal) signinKey() ([]byte, error) {
	if k := p.unlockKey.Load(); k != nil {
		return *k, nil
	}
	p.keyMu.Lock()
	defer p.keyMu.Unlock()
	if k := p.unlockKey.Load(); k != nil {
		return *k, nil
	}
	keyFile := filepath.Join(p.d.Settings().StateDir, "signin.key")
	key, err := os.ReadFile(keyFile)
	if err != nil || len(key) != 32 {
		key = make([]byte, 32)
		rand.Read(key)
		if err := atomicfile.Write(keyFile, key, 0o600); err != nil {
			return nil, fmt.Errorf("signin key: %w", err)
		}
	}
	p.unlockKey.Store(&key)
	return key, nil
}

// deviceTokens signs the tunnel portal's device tokens with the sign-in key.
func (p *Portal) deviceTokens() (signin.DeviceTokens, error) {
	k, err := p.signinKey()
	return signin.DeviceTokens{Key: k, Now: p.d.Now}, err
}

// UnlockToken is the device token the tunnel portal puts into its sign-in
// link (signin.DeviceTokens, valid for an hour, signed with
// state_dir/signin.key: a cluster's gateways accept each other's tokens
// only if they share that file). Empty if the key cannot be had.
func (p *Portal) UnlockToken(user, device string) string {
	dt, err := p.deviceTokens()
	if err != nil {
		p.log.Warn("signin: no key for the portal's device link", slog.String("err", err.Error()))
		return ""
	}
	return dt.Make(user, device)
}

// parseUnlockToken checks bind; errors wrap enroll.ErrNeedDevice.
func (p *Portal) parseUnlockToken(bind string) (user, device string, err error) {
	dt, err := p.deviceTokens()
	if err == nil {
		user, device, err = dt.Parse(bind)
	}
	if err != nil {
		return "", "", fmt.Errorf("%w: %w", enroll.ErrNeedDevice, err)
	}
	return user, device, nil
}

// unlockDevice is the device an unlock sign-in unlocks: the token's, or
// "" (every device) with signin.unlock: user and no token.
func (p *Portal) unlockDevice(id signin.Identity, bind string) (string, error) {
	if bind == "" {
		if p.d.Settings().UnlockUser {
			return "", nil
		}
		return "", fmt.Errorf("%w: %s signed in without the portal's link (open https://%s/portal on the device)",
			enroll.ErrNeedDevice, id.Address, p.d.Settings().TunnelAddress)
	}
	_, device, err := p.parseUnlockToken(bind)
	return device, err
}

// checkUnlockDevice refuses a device token made for another user's device
// or for a device that is gone.
func (p *Portal) checkUnlockDevice(ctx context.Context, user, bind string) error {
	tu, device, err := p.parseUnlockToken(bind)
	if err != nil {
		return err
	}
	if tu != user {
		return fmt.Errorf("%w: the link is for a device of %s, not of %s", enroll.ErrNeedDevice, tu, user)
	}
	if _, err := p.d.Store.Device(ctx, user, device); err != nil {
		return fmt.Errorf("signin: device %s/%s: %w", user, device, err)
	}
	return nil
}

// EnrolSignedIn adds a device for a signed-in user, within the limit:
// the store counts and adds in one transaction (AddDeviceWithin), so
// parallel requests never pass signin.enrol.max_devices. The new device
// counts as signed in at signedIn (the sign-in that enrolled it).
func (p *Portal) EnrolSignedIn(ctx context.Context, user, device, publicKey string, signedIn time.Time) (enroll.Result, error) {
	priv, publicKey, err := identity.DeviceKey(publicKey)
	if err != nil {
		return enroll.Result{}, fmt.Errorf("%w: %w", enroll.ErrBadKey, err)
	}
	ctx = audit.WithActor(ctx, "signin "+user)
	if p.needsApproval(user) {
		return p.requestDevice(ctx, user, device, publicKey, priv)
	}
	d, err := p.d.Identities.AddDeviceWithin(ctx, store.NewDevice{User: user, Name: device, PublicKey: publicKey}, p.d.Settings().MaxDevices)
	switch {
	case errors.Is(err, store.ErrLimit):
		p.log.Info("sign-in enrolment refused: device limit", slog.String("user", user), slog.String("device", device),
			slog.Int("max_devices", p.d.Settings().MaxDevices))
		return enroll.Result{}, fmt.Errorf("%w: %w", enroll.ErrDeviceLimit, err)
	case err != nil && errors.Is(err, store.ErrExists) && priv == (tunnel.Key{}) && strings.Contains(err.Error(), "public key"):
		return enroll.Result{}, fmt.Errorf("%w: %w", enroll.ErrBadKey, err)
	case err != nil:
		return enroll.Result{}, err
	}
	if !signedIn.IsZero() {
		p.d.SignIns.RecordSignIn(user, device, signedIn)
		p.d.Identities.Notify(cluster.Change{Kind: cluster.KindSignIn, User: user, Device: device, At: signedIn})
	}
	res := p.d.Identities.DeviceResult(d, priv)
	out := enroll.Result{User: user, Device: device, Gateway: p.d.Settings().TunnelAddress, Profile: res.Profile, ProfileText: res.ProfileText}
	return out, nil
}

var portalTmpl = template.Must(template.New("portal").Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>licgate</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}</style></head>
<body><h1>Licenses from home</h1><p>This is <strong>{{.Device}}</strong> of <strong>{{.User}}</strong>.</p>
{{if .Signin}}{{if .Unlocked}}<p id="state">Unlocked: you signed in at {{.At}}.</p>{{else}}<p id="state">Some licenses need a fresh sign-in.</p>{{end}}
<p><a id="signin" href="{{.URL}}">Sign in with your office account</a></p>{{else}}<p id="state">Nothing to do here: your licenses need no sign-in.</p>{{end}}
</body></html>`))

// ServeHTTP is https://<tunnel address>/portal for every device: who it is,
// and the way to sign in to unlock rules with a signin window.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	src, err := netip.ParseAddrPort(r.RemoteAddr)
	id, ok := p.d.Identities.Identify(src.Addr())
	if err != nil || !ok {
		http.Error(w, "this page is for devices enrolled in licgate", http.StatusForbidden)
		return
	}
	at := p.d.SignIns.LastSignIn(id.User, id.Device)
	data := map[string]any{"User": id.User, "Device": id.Device, "Signin": p.d.Settings().SignIn && p.d.PublicUp()}
	if data["Signin"].(bool) {
		// The link names this device (the tunnel address proved which it
		// is): the sign-in unlocks it, not the user's other devices.
		data["URL"] = p.d.PublicURL() + "/signin/begin?" + url.Values{"purpose": {enroll.PurposeUnlock},
			"device": {p.UnlockToken(id.User, id.Device)}, "return": {"https://" + p.d.Settings().TunnelAddress + "/portal"}}.Encode()
		if !at.IsZero() && time.Since(at) < p.d.SignIns.SignInWindow() {
			data["Unlocked"], data["At"] = true, at.Format(time.RFC1123)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	portalTmpl.Execute(w, data)
}
