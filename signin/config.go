package signin

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Presets name the providers docs/signin.md describes; a preset only fills
// the defaults of UserClaim, GroupsClaim and Scopes.
const (
	// PresetGeneric (the default): user claim "email", groups claim as
	// configured, scopes openid email profile, plus "groups" when
	// GroupsClaim is set (Dex, Keycloak, Authentik, Zitadel, Authelia).
	PresetGeneric = "generic"
	// PresetEntra is Microsoft Entra ID (Azure AD), v2.0 endpoints with a
	// tenant-specific issuer: user claim "preferred_username" (the UPN),
	// groups claim "groups" (configured in the app registration's token
	// configuration, never requested as a scope).
	PresetEntra = "entra"
	// PresetGoogle is Google Workspace: user claim "email", no groups
	// (Google's ID token carries none).
	PresetGoogle = "google"
)

// Config is the sign-in section of licgate's configuration (YAML key
// signin:). Zero values mean the documented defaults.
type Config struct {
	// Preset is PresetGeneric, PresetEntra or PresetGoogle. If empty, generic.
	Preset string
	// Issuer is the OpenID provider's issuer URL, exactly as its discovery
	// document states it (https://login.microsoftonline.com/<tenant>/v2.0,
	// https://accounts.google.com). Required.
	Issuer string
	// ClientID is the application (client) id registered at the provider.
	// Required.
	ClientID string
	// ClientSecret is the client secret. If empty, it is read from
	// ClientSecretFile (trailing white space dropped) when the provider is
	// first used, so a rotated file is picked up after a failed start.
	ClientSecret     string
	ClientSecretFile string
	// RedirectURL is the absolute URL of the callback, registered at the
	// provider (https://gw.example.com/signin/callback). Required. The
	// sign-in cookie is scoped to its path.
	RedirectURL string
	// Scopes to request. If empty: openid email profile, and for the
	// generic preset also groups when GroupsClaim is set. "openid" is
	// always added.
	Scopes []string
	// UserClaim names the claim that becomes Identity.User and, through
	// Identity.Address, binds the account to a licgate user. If empty,
	// "email" (entra: "preferred_username"). generic and google: only
	// "email" (taken only with email_verified true); entra:
	// "preferred_username" or "upn" (the UPN; Entra's email claim is
	// unverified). Validate refuses other claims: a user name the account's
	// owner may choose must never decide which licgate user they are.
	UserClaim string
	// GroupsClaim names the claim that carries group names. If empty, no
	// groups (entra: "groups").
	GroupsClaim string
	// AllowedDomains lists the domains whose accounts may sign in: the
	// domain of Identity.Address (the verified email, or Entra's UPN).
	// Compared case-insensitively (ASCII), exact domain (sub.example.com is
	// not example.com). Required: Validate refuses an empty list, so a
	// provider that lets anyone register (Google, a Keycloak realm with
	// self-registration) cannot hand out accounts that sign in here.
	AllowedDomains []string
	// CookieKey signs the sign-in cookie (HMAC-SHA256). At least 32 bytes;
	// keep it stable across restarts so sign-ins in flight survive. Required.
	CookieKey []byte
	// CookieName prefixes the per-sign-in cookie names. If empty,
	// "licgate_signin".
	CookieName string
	// ReturnOrigins lists the origins (scheme://host[:port]) BeginLogin
	// accepts in an absolute returnTo, e.g. the portal inside the tunnel.
	// Paths starting with a single "/" are always accepted.
	ReturnOrigins []string
	// LoginTimeout bounds the time from BeginLogin to Callback. If zero, 10m.
	LoginTimeout time.Duration
	// Reauth is how recently the person must have authenticated at the
	// provider (typed a password, used a passkey...) for a sign-in whose
	// purpose is in ReauthPurposes: BeginLogin sends it as max_age (and,
	// with the entra preset, prompt=login), and Callback refuses an ID
	// token without auth_time (ErrNoAuthTime) or whose auth_time is older
	// than Reauth plus AuthTimeSkew (ErrReauthRequired). The browser's
	// holder can strip max_age from the URL; only the auth_time check is
	// relied on. If zero, 5m; negative: nothing is asked or checked (any
	// session at the provider will do). At least 1s, at most 24h (licgate.yaml
	// signin.reauth: 1m-24h).
	Reauth time.Duration
	// ReauthPurposes are the purposes (BeginLogin's) Reauth applies to.
	// If nil, "unlock" and "enroll".
	ReauthPurposes []string
	// Timeout bounds each request to the provider (discovery, token,
	// keys, userinfo). If zero, 10s.
	Timeout time.Duration
	// RetryAfter is how long a failed discovery is remembered before the
	// next attempt; calls in between fail fast with ErrProviderUnavailable.
	// If zero, 5s.
	RetryAfter time.Duration
	// HTTPClient talks to the provider. If nil, a client with Timeout.
	HTTPClient *http.Client
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

func (c *Config) preset() string {
	if c.Preset == "" {
		return PresetGeneric
	}
	return c.Preset
}

func (c *Config) userClaim() string {
	if c.UserClaim != "" {
		return c.UserClaim
	}
	if c.preset() == PresetEntra {
		return "preferred_username"
	}
	return "email"
}

func (c *Config) groupsClaim() string {
	if c.GroupsClaim != "" {
		return c.GroupsClaim
	}
	if c.preset() == PresetEntra {
		return "groups"
	}
	return ""
}

func (c *Config) scopes() []string {
	s := slices.Clone(c.Scopes)
	if len(s) == 0 {
		s = []string{"openid", "email", "profile"}
		if c.preset() == PresetGeneric && c.GroupsClaim != "" {
			s = append(s, "groups")
		}
	}
	if !slices.Contains(s, "openid") {
		s = append([]string{"openid"}, s...)
	}
	return s
}

func (c *Config) cookieName() string {
	if c.CookieName == "" {
		return "licgate_signin"
	}
	return c.CookieName
}

func (c *Config) loginTimeout() time.Duration {
	if c.LoginTimeout <= 0 {
		return 10 * time.Minute
	}
	return c.LoginTimeout
}

// AuthTimeSkew is the clock difference allowed between licgate and the
// provider when auth_time is judged: an auth_time up to this much older
// than Reauth, or this much in the future, is accepted.
const AuthTimeSkew = time.Minute

// reauthFor is the max_age for a sign-in of purpose, 0 for none.
func (c *Config) reauthFor(purpose string) time.Duration {
	if c.Reauth < 0 {
		return 0
	}
	ps := c.ReauthPurposes
	if ps == nil {
		ps = []string{"unlock", "enroll"}
	}
	if !slices.Contains(ps, purpose) {
		return 0
	}
	if c.Reauth == 0 {
		return 5 * time.Minute
	}
	return c.Reauth
}

func (c *Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return 10 * time.Second
	}
	return c.Timeout
}

func (c *Config) retryAfter() time.Duration {
	if c.RetryAfter <= 0 {
		return 5 * time.Second
	}
	return c.RetryAfter
}

func (c *Config) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

// Validate checks the config without touching the network or files; errors
// wrap ErrConfig and name the key.
func (c *Config) Validate() error {
	switch c.preset() {
	case PresetGeneric, PresetEntra, PresetGoogle:
	default:
		return fmt.Errorf("%w: preset: unknown %q (want generic, entra or google)", ErrConfig, c.Preset)
	}
	if err := absURL("issuer", c.Issuer); err != nil {
		return err
	}
	if c.ClientID == "" {
		return fmt.Errorf("%w: client_id: missing", ErrConfig)
	}
	if c.ClientSecret == "" && c.ClientSecretFile == "" {
		return fmt.Errorf("%w: client_secret_file: missing", ErrConfig)
	}
	if err := absURL("redirect_url", c.RedirectURL); err != nil {
		return err
	}
	if len(c.CookieKey) < 32 {
		return fmt.Errorf("%w: cookie key: %d bytes, want at least 32", ErrConfig, len(c.CookieKey))
	}
	switch uc := c.userClaim(); {
	case c.preset() == PresetEntra && (uc == "preferred_username" || uc == "upn"):
	case c.preset() == PresetEntra:
		return fmt.Errorf("%w: user_claim: %q with preset entra: use preferred_username (the UPN); Entra's email claim is not verified", ErrConfig, uc)
	case uc != "email":
		return fmt.Errorf("%w: user_claim: %q cannot bind an account to a licgate user with preset %s: use email (verified by the provider)", ErrConfig, uc, c.preset())
	}
	if len(c.AllowedDomains) == 0 {
		return fmt.Errorf("%w: allowed_domains: missing: list the domains of your accounts (e.g. [example.com]); without it any account of the provider could sign in", ErrConfig)
	}
	for _, d := range c.AllowedDomains {
		if d == "" || strings.ContainsAny(d, "@/ \t\r\n*") || unsafeChars(d) != "" {
			return fmt.Errorf("%w: allowed_domains: %q is not a domain", ErrConfig, d)
		}
	}
	if c.Reauth > 0 && (c.Reauth < time.Second || c.Reauth > 24*time.Hour) {
		return fmt.Errorf("%w: reauth: %s is outside 1s-24h (or off)", ErrConfig, c.Reauth)
	}
	for _, o := range c.ReturnOrigins {
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("%w: return origins: %q is not scheme://host[:port]", ErrConfig, o)
		}
	}
	return nil
}

func absURL(key, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%w: %s: %q is not an absolute http(s) URL", ErrConfig, key, s)
	}
	return nil
}
