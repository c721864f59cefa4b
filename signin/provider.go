package signin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/licgate/licgate/internal/secretfile"
	"golang.org/x/oauth2"
)

// Identity is who signed in, taken from the verified ID token (and the
// userinfo endpoint for claims the ID token lacks).
type Identity struct {
	Issuer  string
	Subject string // the provider's stable id for the person (sub)
	// User is the value of the configured user claim (email or
	// preferred_username), as the provider spelled it: for display and logs.
	User string
	// Address is who the account is, as a licgate user's stored e-mail is
	// compared with it (docs/signin.md, "Which account is which user"): the
	// email claim with email_verified true, or with the entra preset the
	// UPN (preferred_username or upn). ASCII letters lower-cased; its domain
	// is one of AllowedDomains. Never empty in a successful Result.
	Address string
	// Email is the email claim, lower-cased; empty if the provider gave none.
	// Not verified unless it is also Address: for display only.
	Email  string
	Name   string   // the name claim, for display
	Groups []string // the configured groups claim; nil if none
	// GroupsOverage is true when the provider left groups out because
	// there are too many (Entra ID's _claim_names / _claim_sources with
	// more than 200 groups, or hasgroups); Groups is then nil and means
	// "unknown", never "none": a caller deciding on groups must refuse or
	// look them up elsewhere (the admin console uses the directory's).
	GroupsOverage bool
	// At is when the person authenticated at the provider: the ID token's
	// auth_time when it has one (always, for a purpose in
	// Config.ReauthPurposes, where Callback checked it against max_age);
	// else when the callback completed (Config.Now). A provider session
	// reused without a password does not make At recent.
	At time.Time
}

// Result is what Callback learned. Purpose and ReturnTo come from the signed
// cookie BeginLogin set, and are filled even when Callback fails after the
// cookie was verified, so the caller can send the user back where they were.
type Result struct {
	Identity Identity
	Purpose  string
	ReturnTo string
	// Bind is the caller's value given to BeginLoginBound (the gateway's
	// signed device token), carried in the signed cookie.
	Bind string
}

// Provider is the relying party for one OpenID provider. Its methods are
// safe for concurrent use.
type Provider struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client

	mu       sync.Mutex
	disc     *discovered
	lastErr  error
	lastFail time.Time

	usedMu sync.Mutex
	used   map[string]time.Time // state -> when it may be forgotten
}

type discovered struct {
	op       *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    oauth2.Config
}

// New returns a Provider for cfg. It has no side effects: discovery and the
// client secret file wait for the first sign-in (or Check). A nil logger
// discards.
func New(cfg Config, log *slog.Logger) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: cfg.timeout()}
	}
	cfg.AllowedDomains = slices.Clone(cfg.AllowedDomains)
	for i, d := range cfg.AllowedDomains {
		cfg.AllowedDomains[i] = asciiLower(strings.TrimPrefix(d, "@"))
	}
	return &Provider{cfg: cfg, log: log, client: client, used: map[string]time.Time{}}, nil
}

// Check runs discovery now (if it has not succeeded yet) and reads the
// client secret, so a daemon can report a bad issuer at start-up. Failing
// is not fatal: later sign-ins retry.
func (p *Provider) Check(ctx context.Context) error {
	_, err := p.discover(ctx)
	return err
}

// discover returns the cached discovery, or tries once more if RetryAfter
// has passed since the last failure. Callers queue on the mutex so one
// attempt serves them all.
func (p *Provider) discover(ctx context.Context) (*discovered, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.disc != nil {
		return p.disc, nil
	}
	if p.lastErr != nil && p.cfg.now().Sub(p.lastFail) < p.cfg.retryAfter() {
		return nil, p.lastErr
	}
	d, err := p.discoverOnce(ctx)
	if err != nil {
		p.lastErr, p.lastFail = err, p.cfg.now()
		p.log.Warn("signin: discovery failed", slog.String("issuer", p.cfg.Issuer), slog.Any("err", err))
		return nil, err
	}
	p.disc, p.lastErr = d, nil
	p.log.Info("signin: provider discovered", slog.String("issuer", p.cfg.Issuer),
		slog.String("authorization_endpoint", d.op.Endpoint().AuthURL))
	var meta struct {
		Claims []string `json:"claims_supported"`
	}
	if p.cfg.Reauth >= 0 && d.op.Claims(&meta) == nil && len(meta.Claims) > 0 && !slices.Contains(meta.Claims, "auth_time") {
		p.log.Warn("signin: the provider's discovery document lists no auth_time claim: sign-ins to unlock or enrol "+
			"are refused if its ID tokens lack it (signin.reauth; docs/signin.md)", slog.String("issuer", p.cfg.Issuer))
	}
	return d, nil
}

func (p *Provider) discoverOnce(ctx context.Context) (*discovered, error) {
	secret := p.cfg.ClientSecret
	if secret == "" {
		var err error
		if secret, err = secretfile.Read(p.cfg.ClientSecretFile); err != nil {
			return nil, fmt.Errorf("%w: client_secret_file: %w", ErrConfig, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.timeout())
	defer cancel()
	op, err := oidc.NewProvider(oidc.ClientContext(ctx, p.client), p.cfg.Issuer)
	if err != nil {
		var mismatch *oidc.IssuerMismatchError
		if errors.As(err, &mismatch) {
			return nil, fmt.Errorf("%w: issuer: %w", ErrConfig, err)
		}
		return nil, fmt.Errorf("%w: discovery at %s: %w", ErrProviderUnavailable, p.cfg.Issuer, err)
	}
	return &discovered{
		op:       op,
		verifier: op.Verifier(&oidc.Config{ClientID: p.cfg.ClientID, Now: p.cfg.now}),
		oauth: oauth2.Config{
			ClientID:     p.cfg.ClientID,
			ClientSecret: secret,
			Endpoint:     op.Endpoint(),
			RedirectURL:  p.cfg.RedirectURL,
			Scopes:       p.cfg.scopes(),
		},
	}, nil
}

// BeginLogin starts a sign-in: it sets a signed, HttpOnly, Secure,
// SameSite=Lax cookie holding a fresh state, nonce and PKCE verifier (plus
// purpose and returnTo, handed back by Callback) and redirects the browser
// to the provider with 303. purpose is the caller's word for why ("enroll",
// "unlock"); returnTo is where to go afterwards: a local path ("/portal")
// or a URL on one of ReturnOrigins; empty means "/".
//
// On error nothing has been written to w; show the user Message(err) (or
// call WriteError). The provider being down gives ErrProviderUnavailable.
func (p *Provider) BeginLogin(w http.ResponseWriter, r *http.Request, purpose, returnTo string) error {
	return p.BeginLoginBound(w, r, purpose, returnTo, "")
}

// maxBind bounds BeginLoginBound's bind (it travels in the cookie).
const maxBind = 512

// BeginLoginBound is BeginLogin with a value the caller gets back in
// Result.Bind (signed in the cookie, so the browser cannot change it): the
// gateway binds an unlock to the device whose portal made the link.
func (p *Provider) BeginLoginBound(w http.ResponseWriter, r *http.Request, purpose, returnTo, bind string) error {
	if len(bind) > maxBind {
		return fmt.Errorf("%w: bind value of %d bytes", ErrBadReturnTo, len(bind))
	}
	if returnTo == "" {
		returnTo = "/"
	}
	if err := p.checkReturnTo(returnTo); err != nil {
		return err
	}
	d, err := p.discover(r.Context())
	if err != nil {
		return err
	}
	f := flow{
		State:    randomString(),
		Nonce:    randomString(),
		Verifier: oauth2.GenerateVerifier(),
		Purpose:  purpose,
		ReturnTo: returnTo,
		Bind:     bind,
		Issued:   p.cfg.now().Unix(),
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)}
	if maxAge := p.cfg.reauthFor(purpose); maxAge > 0 {
		// The browser's holder may strip these: Callback's auth_time check
		// is what counts; they make an honest provider ask for the password.
		f.MaxAge = int64(maxAge / time.Second)
		opts = append(opts, oauth2.SetAuthURLParam("max_age", strconv.FormatInt(f.MaxAge, 10)))
		if p.cfg.preset() == PresetEntra {
			// Entra ID documents prompt=login, not max_age.
			opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"))
		}
	}
	name := p.flowCookieName(f.State)
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    p.encodeFlow(name, f),
		Path:     p.cookiePath(),
		MaxAge:   int(p.cfg.loginTimeout() / time.Second),
		HttpOnly: true,
		Secure:   true,
		SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	target := d.oauth.AuthCodeURL(f.State, opts...)
	http.Redirect(w, r, target, http.StatusSeeOther)
	p.log.Debug("signin: begin", slog.String("purpose", purpose), slog.String("return_to", returnTo))
	return nil
}

func (p *Provider) cookiePath() string {
	u, err := url.Parse(p.cfg.RedirectURL)
	if err != nil || u.Path == "" {
		return "/"
	}
	return u.Path
}

// checkReturnTo accepts where the browser goes after a sign-in: a path on
// licgate's own origin, or a URL on one of ReturnOrigins. Browsers drop tab,
// CR and LF from URLs and read "\" as "/", so "/\t/evil.example/" or
// "/\evil.example" become "//evil.example", another site: such characters,
// raw or percent-encoded (at any depth), are refused, as are "//" and dot
// segments in the path, userinfo and any scheme but the listed origins'.
func (p *Provider) checkReturnTo(s string) error {
	bad := func(why string) error { return fmt.Errorf("%w: %q: %s", ErrBadReturnTo, s, why) }
	if len(s) > maxReturnTo {
		return bad("too long")
	}
	if strings.HasPrefix(s, "/") {
		if why := localPathProblem(s); why != "" {
			return bad(why)
		}
		return nil
	}
	if why := unsafeChars(s); why != "" {
		return bad(why)
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil || u.Opaque != "" {
		return bad("neither a path on this site nor an absolute URL")
	}
	origin := strings.ToLower(u.Scheme + "://" + u.Host)
	allowed := false
	for _, o := range p.cfg.ReturnOrigins {
		if strings.ToLower(strings.TrimSuffix(o, "/")) == origin {
			allowed = true
		}
	}
	if !allowed {
		return bad("origin " + origin + " is not allowed")
	}
	// What follows scheme://host in s (url.Parse lower-cases only the scheme,
	// so the lengths hold; userinfo was refused above).
	n := len(u.Scheme) + len("://") + len(u.Host)
	if len(s) < n || !strings.EqualFold(s[:n], u.Scheme+"://"+u.Host) {
		return bad("not scheme://host/path")
	}
	rest := s[n:]
	if rest == "" {
		return nil
	}
	if !strings.HasPrefix(rest, "/") {
		return bad("no path after the origin")
	}
	if why := localPathProblem(rest); why != "" {
		return bad(why)
	}
	return nil
}

// maxReturnTo bounds returnTo (it travels in a cookie).
const maxReturnTo = 1024

// localPathProblem says what is wrong with s as a path on this origin
// (s starts with "/"), or "" if nothing: after percent-decoding until
// nothing changes, s has no control characters or backslashes, and its
// path part neither contains "//" nor "." / ".." segments.
func localPathProblem(s string) string {
	for range 4 {
		if why := unsafeChars(s); why != "" {
			return why
		}
		p := s
		if i := strings.IndexAny(p, "?#"); i >= 0 {
			p = p[:i]
		}
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") {
			return `not a single-slash path ("//" leaves the site)`
		}
		for seg := range strings.SplitSeq(p, "/") {
			if seg == "." || seg == ".." {
				return "dot segment in the path"
			}
		}
		d, err := url.PathUnescape(s)
		if err != nil {
			return "bad percent-encoding"
		}
		if d == s {
			return ""
		}
		s = d
	}
	return "encoded too many times"
}

// unsafeChars reports control characters, backslashes and white space,
// which browsers drop or rewrite when they parse a URL.
func unsafeChars(s string) string {
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return "control character"
		case r == '\\':
			return "backslash"
		case r == ' ' || r == 0xa0 || r == 0xfeff || r == 0x2028 || r == 0x2029:
			return "white space"
		case r == utf8.RuneError:
			return "not UTF-8"
		}
	}
	return ""
}

// Callback completes a sign-in at RedirectURL: it finds the cookie for the
// state parameter, refuses a replay, exchanges the code with the PKCE
// verifier, verifies the ID token (signature, issuer, audience, expiry
// through go-oidc; nonce here), and checks the user claim, email_verified
// and AllowedDomains. The cookie is cleared once its state came back,
// whatever the outcome after that (a forged state leaves it in place).
//
// Errors wrap one of the Err* values; the Result carries Purpose and
// ReturnTo whenever the cookie was genuine. Callback logs each refusal.
func (p *Provider) Callback(w http.ResponseWriter, r *http.Request) (Result, error) {
	res, err := p.callback(w, r)
	if err != nil {
		p.log.Info("signin: refused", slog.String("purpose", res.Purpose),
			slog.String("user", res.Identity.User), slog.String("email", res.Identity.Email), slog.Any("err", err))
		return res, err
	}
	p.log.Info("signin: signed in", slog.String("purpose", res.Purpose), slog.String("user", res.Identity.User),
		slog.Any("groups", res.Identity.Groups))
	return res, nil
}

func (p *Provider) callback(w http.ResponseWriter, r *http.Request) (Result, error) {
	var res Result
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		return res, fmt.Errorf("%w: no state parameter", ErrStateMismatch)
	}
	name := p.flowCookieName(state)
	c, err := r.Cookie(name)
	if err != nil {
		return res, fmt.Errorf("%w: no sign-in in progress for this state", ErrStateMismatch)
	}
	clear := func() {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: p.cookiePath(), MaxAge: -1,
			HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	}
	f, err := p.decodeFlow(name, c.Value)
	if err != nil {
		clear()
		return res, err
	}
	// A forged state must not cancel the genuine sign-in in progress: the
	// cookie stays until its own state comes back (or it expires).
	if subtle.ConstantTimeCompare([]byte(f.State), []byte(state)) != 1 {
		return res, fmt.Errorf("%w: state parameter differs from the cookie's", ErrStateMismatch)
	}
	clear()
	res.Purpose, res.ReturnTo, res.Bind = f.Purpose, f.ReturnTo, f.Bind
	now := p.cfg.now()
	issued := time.Unix(f.Issued, 0)
	if now.Sub(issued) > p.cfg.loginTimeout() {
		return res, fmt.Errorf("%w: started %s ago", ErrLoginExpired, now.Sub(issued).Round(time.Second))
	}
	if !p.markUsed(f.State, issued.Add(p.cfg.loginTimeout())) {
		return res, fmt.Errorf("%w: state was already used", ErrReplayed)
	}
	if e := q.Get("error"); e != "" {
		return res, &ProviderError{Code: e, Description: q.Get("error_description")}
	}
	if iss := q.Get("iss"); iss != "" && iss != p.cfg.Issuer {
		return res, fmt.Errorf("%w: callback names %q, want %q", ErrIssuerMismatch, iss, p.cfg.Issuer)
	}
	code := q.Get("code")
	if code == "" {
		return res, fmt.Errorf("%w: neither code nor error", ErrBadCallback)
	}
	d, err := p.discover(r.Context())
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), p.cfg.timeout())
	defer cancel()
	ctx = oidc.ClientContext(ctx, p.client)
	tok, err := d.oauth.Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return res, fmt.Errorf("%w: %w", ErrCodeExchange, err)
		}
		return res, fmt.Errorf("%w: token exchange: %w", ErrProviderUnavailable, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return res, fmt.Errorf("%w: token response has no id_token", ErrIDToken)
	}
	idt, err := d.verifier.Verify(ctx, raw)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) {
			return res, fmt.Errorf("%w: fetching keys: %w", ErrProviderUnavailable, err)
		}
		return res, fmt.Errorf("%w: %w", ErrIDToken, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return res, fmt.Errorf("%w: ID token nonce differs from the cookie's", ErrNonceMismatch)
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return res, fmt.Errorf("%w: claims: %w", ErrIDToken, err)
	}
	authAt, err := checkAuthTime(claims, time.Duration(f.MaxAge)*time.Second, now)
	if err != nil {
		return res, err
	}
	if p.needUserInfo(claims) && d.op.UserInfoEndpoint() != "" {
		if err := p.mergeUserInfo(ctx, d, tok, idt.Subject, claims); err != nil {
			return res, err
		}
	}
	at := now
	if !authAt.IsZero() && authAt.Before(now) { // a future one (skew) counts as now
		at = authAt
	}
	res.Identity, err = p.identity(idt.Issuer, idt.Subject, claims, at)
	return res, err
}

// checkAuthTime reads the ID token's auth_time (OIDC Core §2: seconds since
// the epoch; zero time when absent) and, when max_age was sent (maxAge >
// 0), requires it and requires it to be at most maxAge+AuthTimeSkew before
// now and at most AuthTimeSkew after: OIDC Core §3.1.2.1 says an OP that
// got max_age MUST return auth_time, and a provider that reused an older
// session without asking for the password fails here. Only the ID token's
// own auth_time counts (never userinfo's).
func checkAuthTime(claims map[string]any, maxAge time.Duration, now time.Time) (time.Time, error) {
	var at time.Time
	switch v := claims["auth_time"].(type) {
	case float64:
		if v > 0 && v < 1<<40 && v == float64(int64(v)) {
			at = time.Unix(int64(v), 0)
		}
	case json.Number:
		if n, err := v.Int64(); err == nil && n > 0 && n < 1<<40 {
			at = time.Unix(n, 0)
		}
	}
	if maxAge <= 0 {
		return at, nil
	}
	if at.IsZero() {
		return at, fmt.Errorf("%w: max_age=%d was sent; auth_time is %v: the provider does not honour max_age "+
			"(Entra ID: add the optional claim auth_time to the ID token)", ErrNoAuthTime, int64(maxAge/time.Second), claims["auth_time"])
	}
	if age := now.Sub(at); age > maxAge+AuthTimeSkew {
		return at, fmt.Errorf("%w: authenticated at %s, %s ago; max_age %s: the provider reused an older session "+
			"without asking for the password", ErrReauthRequired, at.UTC().Format(time.RFC3339), age.Round(time.Second), maxAge)
	}
	if at.Sub(now) > AuthTimeSkew {
		return at, fmt.Errorf("%w: auth_time %s is %s in the future (clocks of licgate and the provider differ)",
			ErrReauthRequired, at.UTC().Format(time.RFC3339), at.Sub(now).Round(time.Second))
	}
	return at, nil
}

// markUsed records state as consumed until forget; false if it already was.
func (p *Provider) markUsed(state string, forget time.Time) bool {
	p.usedMu.Lock()
	defer p.usedMu.Unlock()
	now := p.cfg.now()
	for s, t := range p.used {
		if now.After(t) {
			delete(p.used, s)
		}
	}
	if _, ok := p.used[state]; ok {
		return false
	}
	p.used[state] = forget
	return true
}

func (p *Provider) needUserInfo(claims map[string]any) bool {
	if _, ok := claims[p.cfg.userClaim()]; !ok {
		return true
	}
	if g := p.cfg.groupsClaim(); g != "" {
		if _, ok := claims[g]; !ok && !overage(claims, g) {
			return true
		}
	}
	if _, ok := claims["email"]; !ok && len(p.cfg.AllowedDomains) > 0 {
		return true
	}
	if _, ok := claims["email_verified"]; !ok && p.cfg.userClaim() == "email" {
		return true
	}
	return false
}

// mergeUserInfo adds the userinfo endpoint's claims that the ID token
// lacks; the ID token's own claims win.
func (p *Provider) mergeUserInfo(ctx context.Context, d *discovered, tok *oauth2.Token, sub string, claims map[string]any) error {
	ui, err := d.op.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return fmt.Errorf("%w: userinfo: %w", ErrProviderUnavailable, err)
	}
	if ui.Subject != sub {
		return fmt.Errorf("%w: userinfo sub %q differs from ID token sub %q", ErrIDToken, ui.Subject, sub)
	}
	extra := map[string]any{}
	if err := ui.Claims(&extra); err != nil {
		return fmt.Errorf("%w: userinfo claims: %w", ErrIDToken, err)
	}
	for k, v := range extra {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	return nil
}

// overage reports whether the provider left the groups out because there
// are too many: Entra ID says so with _claim_names (code flow, over 200
// groups) or hasgroups (tokens that travel in URLs).
func overage(claims map[string]any, groups string) bool {
	if names, ok := claims["_claim_names"].(map[string]any); ok {
		if _, ok := names[groups]; ok {
			return true
		}
	}
	return truthy(claims["hasgroups"])
}

// identity maps verified claims onto an Identity by the preset's rules:
// the user claim, the address that binds the account (issue 23), the
// groups claim and its overage. Pure but for the overage warning, so the
// presets can be checked against the providers' published tokens.
func (p *Provider) identity(issuer, subject string, claims map[string]any, now time.Time) (Identity, error) {
	id := Identity{Issuer: issuer, Subject: subject, At: now}
	id.Email, _ = claims["email"].(string)
	id.Email = strings.ToLower(strings.TrimSpace(id.Email))
	id.Name, _ = claims["name"].(string)
	uc := p.cfg.userClaim()
	id.User, _ = claims[uc].(string)
	id.User = strings.TrimSpace(id.User)
	if g := p.cfg.groupsClaim(); g != "" {
		id.Groups = stringList(claims[g])
		id.GroupsOverage = overage(claims, g)
		if id.GroupsOverage {
			// Never "no groups": the caller must not decide on groups from
			// this token (adminapi takes roles from the directory then).
			id.Groups = nil
			p.log.Warn("signin: groups overage: the provider left the groups out of the token (more than 200 in Entra ID); "+
				"no decision is taken on the token's groups; emit only the groups assigned to the application",
				slog.String("user", id.User), slog.String("claim", g))
		}
	}
	if id.User == "" {
		return id, fmt.Errorf("%w: claim %q missing or not a string", ErrNoUserClaim, uc)
	}
	// The address that binds the account to a licgate user (issue 23): the
	// email claim only when the provider says it verified it; with the entra
	// preset the UPN, which the tenant's administrators assign within the
	// tenant's verified domains. Never a name or a local part.
	addr := ""
	switch {
	case uc == "email":
		if !truthy(claims["email_verified"]) {
			return id, fmt.Errorf("%w: %s (email_verified %v)", ErrEmailNotVerified, id.Email, claims["email_verified"])
		}
		addr = id.User // the raw claim: id.Email went through Unicode lower-casing
	case p.cfg.preset() == PresetEntra:
		addr = id.User
	default: // Validate refuses this; be safe anyway
		return id, fmt.Errorf("%w: user claim %q does not name a verified address", ErrConfig, uc)
	}
	addr = asciiLower(strings.TrimSpace(addr))
	local, dom, ok := splitAddress(addr)
	if !ok || local == "" {
		return id, fmt.Errorf("%w: %q is not an address", ErrNoUserClaim, addr)
	}
	if !slices.Contains(p.cfg.AllowedDomains, dom) {
		return id, fmt.Errorf("%w: %q", ErrDomainNotAllowed, dom)
	}
	id.Address = addr
	return id, nil
}

// splitAddress splits an address at its last "@"; ok is false when there
// is none, the domain is empty, or it holds characters no address has.
func splitAddress(a string) (local, domain string, ok bool) {
	at := strings.LastIndexByte(a, '@')
	if at < 0 || at == len(a)-1 || unsafeChars(a) != "" || strings.ContainsAny(a, " <>\",;") {
		return "", "", false
	}
	return a[:at], a[at+1:], true
}

// asciiLower lower-cases ASCII letters only: Unicode case folding would make
// "\u212a" (Kelvin) equal "k" and let a look-alike address match.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// SameAddress reports whether two e-mail addresses are the same account
// for licgate: equal after lower-casing ASCII letters, whole address
// (local part included), nothing else folded or stripped.
func SameAddress(a, b string) bool {
	a, b = asciiLower(strings.TrimSpace(a)), asciiLower(strings.TrimSpace(b))
	return a != "" && a == b && strings.Contains(a, "@")
}

func truthy(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string: // some providers send "true"
		return strings.EqualFold(v, "true")
	}
	return false
}

// stringList reads a claim that is a list of strings or one string
// (a provider with a single group sometimes sends it bare).
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		if v == "" {
			return nil
		}
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
