package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/licgate/licgate/cluster"

	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/enroll"
	"github.com/licgate/licgate/identity"
	"github.com/licgate/licgate/internal/atomicfile"
	"github.com/licgate/licgate/internal/confval"
	"github.com/licgate/licgate/signin"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/tunnel"
)

// publicURL is the public listener's base URL (with its port unless 443).
// Before the listener is up (or if it failed) the port comes from
// public.listen as configured.
func (g *Gateway) publicURL() string {
	host := g.conf().Public.Name
	listen := g.conf().Public.Listen
	if a := g.PublicAddr(); a != nil {
		listen = a.String()
	}
	if p := g.publicMappedPort(); p != 0 {
		listen = ":" + strconv.Itoa(p) // what the router forwards (issue 22 finding 5)
	}
	if _, port, err := net.SplitHostPort(listen); err == nil && port != "443" && port != "0" {
		host = net.JoinHostPort(host, port)
	}
	return "https://" + host
}

// signinProvider builds the OpenID Connect relying party, with a cookie
// key kept in the state directory (so sign-ins in flight survive a
// restart). Discovery waits for the first sign-in: a provider that is
// down at start does not stop licgate.
func (g *Gateway) signinProvider() (*signin.Provider, error) {
	key, err := g.signinKey()
	if err != nil {
		return nil, err
	}
	cfg := g.conf().SigninConfig(g.publicURL()+"/signin/callback", key)
	p, err := signin.New(cfg, g.log.With(slog.String("component", "signin")))
	if err != nil {
		return nil, err
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := p.Check(ctx); err != nil {
			g.log.Warn("sign-in provider not reachable yet (sign-ins will retry)", slog.String("err", err.Error()))
		}
	}()
	return p, nil
}

// userFor maps a signed-in identity to a licgate user: the one whose
// stored e-mail is the identity's verified address (signin.SameAddress:
// whole address, ASCII case folded). Never by name or local part: an
// account alice@gmail.com is not the user alice (issue 23). ErrNotFound
// when no user has that address, with the user an enrolment would create.
func (g *Gateway) userFor(ctx context.Context, id signin.Identity) (store.User, error) {
	if id.Address == "" {
		return store.User{}, errors.New("signin: the identity has no verified address")
	}
	users, err := g.st.Users(ctx)
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
func (g *Gateway) SignedIn(ctx context.Context, id signin.Identity, purpose, bind string) (string, time.Time, error) {
	device := ""
	if purpose == enroll.PurposeUnlock {
		var err error
		if device, err = g.unlockDevice(id, bind); err != nil {
			return "", time.Time{}, err
		}
	}
	u, err := g.userFor(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound) && purpose == enroll.PurposeEnroll && g.conf().Signin.Enrol.Enabled:
		if u, err = g.AddUser(audit.WithActor(ctx, "signin "+id.Address), u.Name, u.Email); err != nil {
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
			if err := g.checkUnlockDevice(ctx, u.Name, bind); err != nil {
				return "", time.Time{}, err
			}
		}
		g.recordSignIn(u.Name, device, id.At)
		g.notifyChange(cluster.Change{Kind: cluster.KindSignIn, User: u.Name, Device: device, At: id.At}) // unlocks on every gateway
	}
	g.auditEvent("signin "+id.Address, "signin."+purpose, u.Name)
	return u.Name, id.At.Add(g.signinWindow()), nil
}

// signinKey names a sign-in in g.signins: the device's, or the user's
// (device "") with signin.unlock: user.
func signinKey(user, device string) string { return user + "\x00" + device }

// recordSignIn makes rules with a signin window see the sign-in of user
// on device ("": all the user's devices, with signin.unlock: user).
func (g *Gateway) recordSignIn(user, device string, at time.Time) {
	g.signinMu.Lock()
	defer g.signinMu.Unlock()
	next := map[string]time.Time{}
	if m := g.signins.Load(); m != nil {
		for k, v := range *m {
			next[k] = v
		}
	}
	k := signinKey(user, device)
	if at.After(next[k]) {
		next[k] = at
	}
	g.signins.Store(&next)
}

// lastSignIn is when user last signed in at the portal for device (zero:
// never). A sign-in for all the user's devices counts only with
// signin.unlock: user.
func (g *Gateway) lastSignIn(user, device string) time.Time {
	m := g.signins.Load()
	if m == nil {
		return time.Time{}
	}
	at := (*m)[signinKey(user, device)]
	if g.conf().Signin.Unlock == config.UnlockUser {
		if all := (*m)[signinKey(user, "")]; all.After(at) {
			at = all
		}
	}
	return at
}

// signinKey is the sign-in key in state_dir/signin.key (32 random bytes,
// made on first use): it signs the sign-in cookie and the portal's device
// tokens, so sign-ins in flight survive a restart.
func (g *Gateway) signinKey() ([]byte, error) {
	if k := g.unlockKey.Load(); k != nil {
		return *k, nil
	}
	g.signinMu.Lock()
	defer g.signinMu.Unlock()
	if k := g.unlockKey.Load(); k != nil {
		return *k, nil
	}
	keyFile := filepath.Join(g.conf().StateDir, "signin.key")
	key, err := os.ReadFile(keyFile)
	if err != nil || len(key) != 32 {
		key = make([]byte, 32)
		rand.Read(key)
		if err := atomicfile.Write(keyFile, key, 0o600); err != nil {
			return nil, fmt.Errorf("signin key: %w", err)
		}
	}
	g.unlockKey.Store(&key)
	return key, nil
}

// deviceTokens signs the tunnel portal's device tokens with the sign-in key.
func (g *Gateway) deviceTokens() (signin.DeviceTokens, error) {
	k, err := g.signinKey()
	return signin.DeviceTokens{Key: k, Now: g.now}, err
}

// UnlockToken is the device token the tunnel portal puts into its sign-in
// link (signin.DeviceTokens, valid for an hour, signed with
// state_dir/signin.key: a cluster's gateways accept each other's tokens
// only if they share that file). Empty if the key cannot be had.
func (g *Gateway) UnlockToken(user, device string) string {
	dt, err := g.deviceTokens()
	if err != nil {
		g.log.Warn("signin: no key for the portal's device link", slog.String("err", err.Error()))
		return ""
	}
	return dt.Make(user, device)
}

// parseUnlockToken checks bind; errors wrap enroll.ErrNeedDevice.
func (g *Gateway) parseUnlockToken(bind string) (user, device string, err error) {
	dt, err := g.deviceTokens()
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
func (g *Gateway) unlockDevice(id signin.Identity, bind string) (string, error) {
	if bind == "" {
		if g.conf().Signin.Unlock == config.UnlockUser {
			return "", nil
		}
		return "", fmt.Errorf("%w: %s signed in without the portal's link (open https://%s/portal on the device)",
			enroll.ErrNeedDevice, id.Address, g.conf().Tunnel.Address)
	}
	_, device, err := g.parseUnlockToken(bind)
	return device, err
}

// checkUnlockDevice refuses a device token made for another user's device
// or for a device that is gone.
func (g *Gateway) checkUnlockDevice(ctx context.Context, user, bind string) error {
	tu, device, err := g.parseUnlockToken(bind)
	if err != nil {
		return err
	}
	if tu != user {
		return fmt.Errorf("%w: the link is for a device of %s, not of %s", enroll.ErrNeedDevice, tu, user)
	}
	if _, err := g.st.Device(ctx, user, device); err != nil {
		return fmt.Errorf("signin: device %s/%s: %w", user, device, err)
	}
	return nil
}

// signinWindow is the longest signin window of the policy's rules (12h
// when none has one).
func (g *Gateway) signinWindow() time.Duration {
	longest := time.Duration(0)
	for _, r := range g.engine.Load().Policy().Rules {
		if d, err := confval.ParseDuration(r.SignIn); err == nil && d > longest {
			longest = d
		}
	}
	if longest == 0 {
		return 12 * time.Hour
	}
	return longest
}

// EnrolSignedIn adds a device for a signed-in user, within the limit:
// the store counts and adds in one transaction (AddDeviceWithin), so
// parallel requests never pass signin.enrol.max_devices. The new device
// counts as signed in at signedIn (the sign-in that enrolled it).
func (g *Gateway) EnrolSignedIn(ctx context.Context, user, device, publicKey string, signedIn time.Time) (enroll.Result, error) {
	priv, publicKey, err := identity.DeviceKey(publicKey)
	if err != nil {
		return enroll.Result{}, fmt.Errorf("%w: %w", enroll.ErrBadKey, err)
	}
	ctx = audit.WithActor(ctx, "signin "+user)
	d, err := g.AddDeviceWithin(ctx, store.NewDevice{User: user, Name: device, PublicKey: publicKey}, g.conf().Signin.Enrol.MaxDevices)
	switch {
	case errors.Is(err, store.ErrLimit):
		g.log.Info("sign-in enrolment refused: device limit", slog.String("user", user), slog.String("device", device),
			slog.Int("max_devices", g.conf().Signin.Enrol.MaxDevices))
		return enroll.Result{}, fmt.Errorf("%w: %w", enroll.ErrDeviceLimit, err)
	case err != nil && errors.Is(err, store.ErrExists) && priv == (tunnel.Key{}) && strings.Contains(err.Error(), "public key"):
		return enroll.Result{}, fmt.Errorf("%w: %w", enroll.ErrBadKey, err)
	case err != nil:
		return enroll.Result{}, err
	}
	if !signedIn.IsZero() {
		g.recordSignIn(user, device, signedIn)
		g.notifyChange(cluster.Change{Kind: cluster.KindSignIn, User: user, Device: device, At: signedIn})
	}
	res := g.DeviceResult(d, priv)
	out := enroll.Result{User: user, Device: device, Gateway: g.conf().Tunnel.Address, Profile: res.Profile, ProfileText: res.ProfileText}
	return out, nil
}

var portalTmpl = template.Must(template.New("portal").Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>licgate</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}</style></head>
<body><h1>Licenses from home</h1><p>This is <strong>{{.Device}}</strong> of <strong>{{.User}}</strong>.</p>
{{if .Signin}}{{if .Unlocked}}<p id="state">Unlocked: you signed in at {{.At}}.</p>{{else}}<p id="state">Some licenses need a fresh sign-in.</p>{{end}}
<p><a id="signin" href="{{.URL}}">Sign in with your office account</a></p>{{else}}<p id="state">Nothing to do here: your licenses need no sign-in.</p>{{end}}
</body></html>`))

// portal is https://<tunnel address>/portal for every device: who it is,
// and the way to sign in to unlock rules with a signin window.
func (g *Gateway) portal(w http.ResponseWriter, r *http.Request) {
	src, err := netip.ParseAddrPort(r.RemoteAddr)
	id, ok := g.Identify(src.Addr())
	if err != nil || !ok {
		http.Error(w, "this page is for devices enrolled in licgate", http.StatusForbidden)
		return
	}
	at := g.lastSignIn(id.User, id.Device)
	data := map[string]any{"User": id.User, "Device": id.Device, "Signin": g.conf().Signin.Issuer != "" && g.publicLn != nil}
	if data["Signin"].(bool) {
		// The link names this device (the tunnel address proved which it
		// is): the sign-in unlocks it, not the user's other devices.
		data["URL"] = g.publicURL() + "/signin/begin?" + url.Values{"purpose": {enroll.PurposeUnlock},
			"device": {g.UnlockToken(id.User, id.Device)}, "return": {"https://" + g.conf().Tunnel.Address + "/portal"}}.Encode()
		if !at.IsZero() && time.Since(at) < g.signinWindow() {
			data["Unlocked"], data["At"] = true, at.Format(time.RFC1123)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	portalTmpl.Execute(w, data)
}
