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
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/licgate/licgate/cluster"

	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/enroll"
	"github.com/licgate/licgate/internal/atomicfile"
	"github.com/licgate/licgate/signin"
	"github.com/licgate/licgate/store"
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
	keyFile := filepath.Join(g.conf().StateDir, "signin.key")
	key, err := os.ReadFile(keyFile)
	if err != nil || len(key) != 32 {
		key = make([]byte, 32)
		rand.Read(key)
		if err := atomicfile.Write(keyFile, key, 0o600); err != nil {
			return nil, fmt.Errorf("signin key: %w", err)
		}
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

// userFor maps a signed-in identity to a licgate user: by e-mail address,
// else by name (the part before @, lowercased).
func (g *Gateway) userFor(ctx context.Context, id signin.Identity) (store.User, error) {
	users, err := g.st.Users(ctx)
	if err != nil {
		return store.User{}, err
	}
	name := strings.ToLower(id.User)
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	for _, u := range users {
		if id.Email != "" && strings.EqualFold(u.Email, id.Email) || u.Name == name {
			return u, nil
		}
	}
	return store.User{Name: name, Email: id.Email}, store.ErrNotFound
}

// SignedIn records a sign-in at the public portal. For enrolment, a
// person the provider let in but licgate does not know yet becomes a user
// (named after their account); for unlocking, they must exist.
func (g *Gateway) SignedIn(ctx context.Context, id signin.Identity, purpose string) (string, time.Time, error) {
	u, err := g.userFor(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound) && purpose == enroll.PurposeEnroll && g.conf().Signin.Enrol.Enabled:
		if u, err = g.AddUser(audit.WithActor(ctx, "signin "+id.User), u.Name, u.Email); err != nil {
			return "", time.Time{}, err
		}
	case err != nil:
		return "", time.Time{}, err
	}
	if u.Disabled {
		return "", time.Time{}, fmt.Errorf("user %s is disabled", u.Name)
	}
	g.recordSignIn(u.Name, id.At)
	g.notifyChange(cluster.Change{Kind: cluster.KindSignIn, User: u.Name, At: id.At}) // unlocks on every gateway
	g.auditEvent("signin "+id.User, "signin."+purpose, u.Name)
	return u.Name, id.At.Add(g.signinWindow()), nil
}

// recordSignIn makes rules with a signin window see the user's sign-in.
func (g *Gateway) recordSignIn(user string, at time.Time) {
	g.signinMu.Lock()
	defer g.signinMu.Unlock()
	next := map[string]time.Time{}
	if m := g.signins.Load(); m != nil {
		for k, v := range *m {
			next[k] = v
		}
	}
	next[user] = at
	g.signins.Store(&next)
}

// signinWindow is the longest signin window of the policy's rules (12h
// when none has one).
func (g *Gateway) signinWindow() time.Duration {
	longest := time.Duration(0)
	for _, r := range g.engine.Load().Policy().Rules {
		if d, err := config.ParseDuration(r.SignIn); err == nil && d > longest {
			longest = d
		}
	}
	if longest == 0 {
		return 12 * time.Hour
	}
	return longest
}

// EnrolSignedIn adds a device for a signed-in user, within the limit.
func (g *Gateway) EnrolSignedIn(ctx context.Context, user, device, publicKey string) (enroll.Result, error) {
	devs, err := g.st.Devices(ctx, false)
	if err != nil {
		return enroll.Result{}, err
	}
	n := 0
	for _, d := range devs {
		if d.User == user {
			n++
		}
	}
	if n >= g.conf().Signin.Enrol.MaxDevices {
		return enroll.Result{}, enroll.ErrDeviceLimit
	}
	res, err := g.AddDevice(audit.WithActor(ctx, "signin "+user), user, device, publicKey)
	if err != nil {
		if errors.Is(err, store.ErrInvalid) && publicKey != "" {
			return enroll.Result{}, fmt.Errorf("%w: %w", enroll.ErrBadKey, err)
		}
		return enroll.Result{}, err
	}
	out := enroll.Result{User: user, Device: device, Gateway: g.conf().Tunnel.Address, Profile: res.Profile, ProfileText: res.ProfileText}
	if res.Profile == nil {
		out.ProfileText = res.ProfileText
	}
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
	id, ok := g.identify(src.Addr())
	if err != nil || !ok {
		http.Error(w, "this page is for devices enrolled in licgate", http.StatusForbidden)
		return
	}
	at := g.lastSignIn(id.User)
	data := map[string]any{"User": id.User, "Device": id.Device, "Signin": g.conf().Signin.Issuer != "" && g.publicLn != nil}
	if data["Signin"].(bool) {
		data["URL"] = g.publicURL() + "/signin/begin?purpose=unlock&return=" + "https://" + g.conf().Tunnel.Address + "/portal"
		if !at.IsZero() && time.Since(at) < g.signinWindow() {
			data["Unlocked"], data["At"] = true, at.Format(time.RFC1123)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	portalTmpl.Execute(w, data)
}
