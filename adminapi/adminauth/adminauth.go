package adminauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/signin"
	"github.com/licgate/licgate/store"
)

// Roles of a signed-in admin.
const (
	RoleAdmin    = "admin"
	RoleReadonly = "readonly"
)

// DefaultSession is how long a session lasts when signin.admin.session is
// not set.
const DefaultSession = 8 * time.Hour

// Paths served here, beside the API and console.
const (
	PathBegin    = "/signin/begin"
	PathCallback = "/signin/callback"
	PathSession  = "/signin/session"
	PathLogout   = "/signin/logout"
)

// CSRFHeader carries the session's CSRF token on requests that change
// something.
const CSRFHeader = "X-CSRF-Token"

// cookieName is the session cookie.
const cookieName = "licgate_admin"

// Directory is what the role decision asks of the gateway (an
// adminapi.Backend is one): the users, to find the one with the signed-in
// address, and the policy in force, for its groups (directory groups
// included).
type Directory interface {
	Users(ctx context.Context) ([]store.User, error)
	Engine() *acl.Engine
}

// ErrNoRole: the signed-in person is in none of the configured groups (or
// their licgate user is disabled).
var ErrNoRole = errors.New("adminauth: no admin role")

// Options tune LAN for tests.
type Options struct {
	// Now is the clock of sessions. If nil, time.Now.
	Now func() time.Time
}

// LAN is the LAN admin listener's authentication in front of h (the admin
// API and console): the bearer token as adminapi.TokenAuth, and, when s is
// not nil, admin sign-in at the OpenID provider with sessions and roles
// (see the package doc). h is served with the acting identity in the
// context (audit.WithActor).
func LAN(dir Directory, token string, s *signin.AdminConfig, log *slog.Logger, h http.Handler, opts ...Options) (http.Handler, error) {
	tokenAuth := adminapi.TokenAuth(token, log, h)
	if s == nil {
		return tokenAuth, nil
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("adminauth: %w", err)
	}
	p, err := signin.New(s.Config, log.With(slog.String("component", "admin-signin")))
	if err != nil {
		return nil, fmt.Errorf("adminauth: %w", err)
	}
	m := hmac.New(sha256.New, s.CookieKey)
	m.Write([]byte("licgate admin session v1"))
	a := &auth{dir: dir, p: p, cfg: *s, key: m.Sum(nil), log: log, token: tokenAuth, h: h, now: time.Now}
	for _, o := range opts {
		if o.Now != nil {
			a.now = o.Now
		}
	}
	return a, nil
}

type auth struct {
	dir   Directory
	p     *signin.Provider
	cfg   signin.AdminConfig
	key   []byte
	log   *slog.Logger
	token http.Handler
	h     http.Handler
	now   func() time.Time
}

// session is what the cookie holds.
type session struct {
	ID      string `json:"i"`
	Address string `json:"a"`
	Role    string `json:"r"`
	Expires int64  `json:"e"` // unix seconds
}

// SessionView answers GET /signin/session.
type SessionView struct {
	User    string    `json:"user"`
	Role    string    `json:"role"`
	Expires time.Time `json:"expires"`
	CSRF    string    `json:"csrf"`
}

func (a *auth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "" {
		a.token.ServeHTTP(w, r)
		return
	}
	switch r.URL.Path {
	case PathBegin:
		a.begin(w, r)
		return
	case PathCallback:
		a.callback(w, r)
		return
	}
	s, err := a.session(r)
	switch r.URL.Path {
	case PathSession:
		if err != nil {
			writeErr(w, http.StatusUnauthorized, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, SessionView{User: s.Address, Role: s.Role, Expires: time.Unix(s.Expires, 0), CSRF: a.csrf(s.ID)})
		return
	case PathLogout:
		if err == nil && r.Method == http.MethodPost && a.csrfOK(r, s) {
			a.clearCookie(w, r)
			a.log.Info("admin signed out", slog.String("user", s.Address))
			writeJSON(w, http.StatusOK, map[string]string{"signed_out": s.Address})
			return
		}
		writeErr(w, http.StatusForbidden, errors.New("sign-out needs POST with the session cookie and its CSRF token"))
		return
	}
	if err != nil {
		if r.Method == http.MethodGet && (r.URL.Path == "/" || r.URL.Path == "/index.html") {
			http.Redirect(w, r, PathBegin, http.StatusSeeOther)
			return
		}
		writeErr(w, http.StatusUnauthorized, fmt.Errorf("%w: sign in at %s (the console) or send Authorization: Bearer <token>", err, PathBegin))
		return
	}
	if !safe(r) {
		if !a.csrfOK(r, s) {
			a.log.Info("admin request refused: CSRF token missing or wrong", slog.String("user", s.Address), slog.String("path", r.URL.Path))
			writeErr(w, http.StatusForbidden, errors.New("missing or wrong "+CSRFHeader+" header (reload the console)"))
			return
		}
		if s.Role != RoleAdmin {
			a.log.Info("admin request refused: read-only role", slog.String("user", s.Address), slog.String("path", r.URL.Path))
			writeErr(w, http.StatusForbidden, fmt.Errorf("%s has the %s role: changes need the admin role", s.Address, s.Role))
			return
		}
	}
	a.h.ServeHTTP(w, r.WithContext(audit.WithActor(r.Context(), "signin "+s.Address)))
}

// safe: requests that change nothing, which the read-only role may make.
func safe(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return true
	}
	return r.Method == http.MethodPost && r.URL.Path == "/api/v1/policy/explain"
}

func (a *auth) begin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeErr(w, http.StatusMethodNotAllowed, errors.New("GET only"))
		return
	}
	if err := a.p.BeginLogin(w, r, "admin", "/"); err != nil {
		signin.WriteError(w, err)
	}
}

func (a *auth) callback(w http.ResponseWriter, r *http.Request) {
	res, err := a.p.Callback(w, r)
	if err != nil {
		signin.WriteError(w, err)
		return
	}
	id := res.Identity
	role, err := a.role(r.Context(), id)
	if err != nil {
		a.log.Warn("admin sign-in refused", slog.String("user", id.Address), slog.Bool("groups_overage", id.GroupsOverage),
			slog.String("err", err.Error()))
		page(w, http.StatusForbidden, "Sign-in refused", refusal(id, err))
		return
	}
	s := session{ID: randomID(), Address: id.Address, Role: role, Expires: a.now().Add(a.cfg.SessionOr(DefaultSession)).Unix()}
	http.SetCookie(w, a.cookie(r, s))
	a.log.Info("admin signed in", slog.String("user", id.Address), slog.String("role", role), slog.String("from", r.RemoteAddr),
		slog.Time("until", time.Unix(s.Expires, 0)))
	// A page, not a redirect: the browser arrives here from the provider,
	// and a SameSite=Strict cookie is not sent on a redirect chain that
	// started on another site. Leaving this page is a same-site navigation.
	w.Header().Set("Refresh", "0; url=/")
	page(w, http.StatusOK, "Signed in", fmt.Sprintf("Signed in as %s (%s). Opening the console…", id.Address, role))
}

func refusal(id signin.Identity, err error) string {
	msg := "Your account has no admin role here. Ask an administrator to add you to an admin group."
	if id.GroupsOverage {
		msg = "Your account is in too many groups for the sign-in token (Entra ID leaves them out above 200), " +
			"and the directory sync gives it no admin role. Ask an administrator: emit only the groups assigned " +
			"to the application, or add you to an admin group that the directory sync reads."
	}
	if errors.Is(err, ErrNoRole) {
		return msg
	}
	return "The sign-in could not be checked: " + err.Error()
}

// role decides the role of a signed-in identity: admin if any of its
// groups is an admin group, else readonly if one is a read-only group.
// Its groups are the token's (unless overage: unknown) and the policy
// groups of the one licgate user with its address; a disabled user, or an
// address several users share, gets no role.
func (a *auth) role(ctx context.Context, id signin.Identity) (string, error) {
	groups := map[string]bool{}
	if !id.GroupsOverage {
		for _, g := range id.Groups {
			groups[g] = true
		}
	} else {
		a.log.Warn("admin sign-in: groups overage: the token's groups are unknown; the role comes from the directory's groups only",
			slog.String("user", id.Address))
	}
	users, err := a.dir.Users(ctx)
	if err != nil {
		return "", fmt.Errorf("adminauth: users: %w", err)
	}
	var found []store.User
	for _, u := range users {
		if signin.SameAddress(u.Email, id.Address) {
			found = append(found, u)
		}
	}
	switch {
	case len(found) > 1:
		return "", fmt.Errorf("%w: %d users have the address %s", ErrNoRole, len(found), id.Address)
	case len(found) == 1 && found[0].Disabled:
		return "", fmt.Errorf("%w: user %s is disabled", ErrNoRole, found[0].Name)
	case len(found) == 1:
		for _, g := range a.dir.Engine().GroupsOf(found[0].Name) {
			groups[g] = true
		}
	}
	has := func(list []string) bool {
		return slices.ContainsFunc(list, func(g string) bool { return groups[g] })
	}
	switch {
	case has(a.cfg.AdminGroups):
		return RoleAdmin, nil
	case has(a.cfg.ReadonlyGroups):
		return RoleReadonly, nil
	}
	if id.GroupsOverage {
		return "", fmt.Errorf("%w: groups overage and no admin or read-only group from the directory", ErrNoRole)
	}
	return "", fmt.Errorf("%w: in none of the groups %v / %v", ErrNoRole, a.cfg.AdminGroups, a.cfg.ReadonlyGroups)
}

var errNoSession = errors.New("not signed in")

// session reads and checks the cookie: signature, expiry, role.
func (a *auth) session(r *http.Request) (session, error) {
	var s session
	c, err := r.Cookie(cookieName)
	if err != nil {
		return s, errNoSession
	}
	enc, sig, ok := strings.Cut(c.Value, ".")
	payload, err1 := base64.RawURLEncoding.DecodeString(enc)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err1 != nil || err2 != nil || !hmac.Equal(mac, a.mac("session", payload)) {
		return s, fmt.Errorf("%w (the session cookie does not verify)", errNoSession)
	}
	if err := json.Unmarshal(payload, &s); err != nil || s.ID == "" || (s.Role != RoleAdmin && s.Role != RoleReadonly) {
		return session{}, fmt.Errorf("%w (malformed session)", errNoSession)
	}
	if !a.now().Before(time.Unix(s.Expires, 0)) {
		return session{}, fmt.Errorf("%w (the session expired at %s)", errNoSession, time.Unix(s.Expires, 0).UTC().Format(time.RFC3339))
	}
	return s, nil
}

func (a *auth) encode(s session) string {
	payload, _ := json.Marshal(s)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(a.mac("session", payload))
}

// cookie carries s: HttpOnly, SameSite=Strict, and Secure when r came
// over TLS (the LAN listener always is; plain HTTP only in tests).
func (a *auth) cookie(r *http.Request, s session) *http.Cookie {
	return &http.Cookie{Name: cookieName, Value: a.encode(s), Path: "/", Expires: time.Unix(s.Expires, 0),
		MaxAge: int(a.cfg.SessionOr(DefaultSession) / time.Second), HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode}
}

func (a *auth) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode})
}

func (a *auth) mac(purpose string, payload []byte) []byte {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)
}

// csrf is the CSRF token of session id.
func (a *auth) csrf(id string) string {
	return base64.RawURLEncoding.EncodeToString(a.mac("csrf", []byte(id)))
}

func (a *auth) csrfOK(r *http.Request, s session) bool {
	got := r.Header.Get(CSRFHeader)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(a.csrf(s.ID))) == 1
}

func randomID() string {
	b := make([]byte, 24)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, adminapi.APIError{Error: err.Error()})
}

var pageTmpl = template.Must(template.New("p").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title></head>
<body><h1>{{.Title}}</h1><p id="signin-message">{{.Text}}</p>{{if .Back}}<p><a href="/">Open the console</a></p>{{end}}</body></html>
`))

func page(w http.ResponseWriter, code int, title, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.WriteHeader(code)
	_ = pageTmpl.Execute(w, struct {
		Title, Text string
		Back        bool
	}{title, text, code == http.StatusOK})
}
