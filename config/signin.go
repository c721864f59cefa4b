package config

import (
	"net"
	netmail "net/mail"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/licgate/licgate/internal/confval"
	"github.com/licgate/licgate/signin"
)

// SigninConfig lets people sign in with the office's accounts (OpenID
// Connect: Entra ID, Google Workspace, Keycloak...), on the public
// listener: to enrol a device without a link, and to unlock license
// access for rules with `signin: 12h`. See docs/signin.md.
type SigninConfig struct {
	// Issuer URL of the provider. Empty: no sign-in.
	Issuer string `yaml:"issuer"`
	// Preset: generic (default), entra or google.
	Preset           string   `yaml:"preset"`
	ClientID         string   `yaml:"client_id"`
	ClientSecretFile string   `yaml:"client_secret_file"`
	Scopes           []string `yaml:"scopes"`
	UserClaim        string   `yaml:"user_claim"`
	GroupsClaim      string   `yaml:"groups_claim"`
	AllowedDomains   []string `yaml:"allowed_domains"`
	// Unlock says what a sign-in to unlock unlocks: "device" (default) only
	// the device whose tunnel portal made the sign-in link; "user" every
	// device of the user, also from a sign-in without the portal's link.
	Unlock string `yaml:"unlock"`
	// Reauth is how recently a person signing in to unlock or to enrol
	// must have typed their password at the provider (sent as max_age,
	// checked against the ID token's auth_time). If unset, 5m; 1m-24h, or
	// 0 for off (a provider session of any age will do).
	Reauth confval.Duration `yaml:"reauth"`
	// Enrol lets a signed-in person add their own devices from the public
	// page: up to MaxDevices active devices each (default 3).
	Enrol struct {
		Enabled    bool `yaml:"enabled"`
		MaxDevices int  `yaml:"max_devices"`
		// Approval: "none" (default: the device works at once) or
		// "required": the device waits for an admin (licgate device
		// approve, or the console) and has no peer until then. With
		// ApprovalGroups only members of those groups wait; with
		// ApprovalExceptGroups everyone but their members (never both).
		// Groups are licgate's policy groups, directory groups included.
		Approval             string   `yaml:"approval"`
		ApprovalGroups       []string `yaml:"approval_groups"`
		ApprovalExceptGroups []string `yaml:"approval_except_groups"`
		// ApprovalTTL is how long a request waits before it is dropped.
		// If unset, 72h.
		ApprovalTTL confval.Duration `yaml:"approval_ttl"`
		// MaxPending bounds the requests waiting, of all users together
		// (each user's count toward MaxDevices too). If zero, 20.
		MaxPending int `yaml:"max_pending"`
		// Notify are the admins' addresses told of each request through
		// smtp: (required for them); empty: nobody is mailed.
		Notify []string `yaml:"notify"`
	} `yaml:"enrol"`
	// Admin lets admins sign in at the LAN admin listener (admin.lan_listen)
	// with this provider: members of AdminGroups get the admin role, of
	// ReadonlyGroups the read-only one (groups claim values, or licgate and
	// directory groups of the user with that e-mail). Session: default 8h.
	// URL is the LAN listener as admins' browsers reach it (default
	// https://<admin.lan_listen>); URL/signin/callback must be registered
	// at the provider. See docs/signin.md "Admins sign in".
	Admin struct {
		AdminGroups    []string         `yaml:"admin_groups"`
		ReadonlyGroups []string         `yaml:"readonly_groups"`
		Session        confval.Duration `yaml:"session"`
		URL            string           `yaml:"url"`
	} `yaml:"admin"`
}

// Values of signin.unlock.
const (
	UnlockDevice = "device"
	UnlockUser   = "user"
)

func (c *Config) validateSignin() error {
	s := &c.Signin
	if s.Issuer == "" {
		return nil
	}
	if c.Public.Listen == "" {
		return c.at("signin", "sign-in needs the public listener (public.listen and public.name): the provider sends people back to it")
	}
	if s.ClientSecretFile != "" && !filepath.IsAbs(s.ClientSecretFile) {
		s.ClientSecretFile = filepath.Join(filepath.Dir(c.file), s.ClientSecretFile)
	}
	switch s.Unlock {
	case "":
		s.Unlock = UnlockDevice
	case UnlockDevice, UnlockUser:
	default:
		return c.at("signin.unlock", "%q: want device (default) or user", s.Unlock)
	}
	if s.Enrol.MaxDevices == 0 {
		s.Enrol.MaxDevices = 3
	}
	if s.Enrol.MaxDevices < 1 || s.Enrol.MaxDevices > 100 {
		return c.at("signin.enrol.max_devices", "%d is outside 1-100", s.Enrol.MaxDevices)
	}
	if err := c.validateApproval(); err != nil {
		return err
	}
	if r := s.Reauth; r.IsSet() && r.Duration != 0 && (r.Duration < time.Minute || r.Duration > 24*time.Hour) {
		return c.at("signin.reauth", "%s is outside 1m-24h (0: off)", r.Duration)
	}
	cfg := c.SigninConfig("https://"+c.Public.Name+"/signin/callback", make([]byte, 32))
	if err := cfg.Validate(); err != nil {
		return c.at("signin", "%v", err)
	}
	if a := &s.Admin; len(a.AdminGroups)+len(a.ReadonlyGroups) > 0 || a.URL != "" || a.Session.IsSet() {
		if c.Admin.LANListen == "" {
			return c.at("signin.admin", "admin sign-in is served on the LAN admin listener: set admin.lan_listen")
		}
		if a.URL == "" {
			host, _, _ := net.SplitHostPort(c.Admin.LANListen)
			if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
				return c.at("signin.admin.url", "missing: admin.lan_listen %q names no host the browser can use", c.Admin.LANListen)
			}
			a.URL = "https://" + c.Admin.LANListen
		}
		if u, err := url.Parse(a.URL); err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return c.at("signin.admin.url", "%q: want https://host[:port]", a.URL)
		}
		a.URL = strings.TrimSuffix(a.URL, "/")
		ac, _ := c.AdminSignin(func() ([]byte, error) { return make([]byte, 32), nil })
		if err := ac.Validate(); err != nil {
			return c.at("signin.admin", "%v", err)
		}
	}
	return nil
}

// Values of signin.enrol.approval.
const (
	ApprovalNone     = "none"
	ApprovalRequired = "required"
)

// validateApproval checks signin.enrol's approval keys and fills their
// defaults.
func (c *Config) validateApproval() error {
	e := &c.Signin.Enrol
	switch e.Approval {
	case "":
		e.Approval = ApprovalNone
	case ApprovalNone, ApprovalRequired:
	default:
		return c.at("signin.enrol.approval", "%q: want none (default) or required", e.Approval)
	}
	if e.Approval == ApprovalNone && len(e.ApprovalGroups)+len(e.ApprovalExceptGroups) > 0 {
		return c.at("signin.enrol.approval", "approval_groups and approval_except_groups need approval: required")
	}
	if len(e.ApprovalGroups) > 0 && len(e.ApprovalExceptGroups) > 0 {
		return c.at("signin.enrol.approval_groups", "give approval_groups or approval_except_groups, not both")
	}
	if err := confval.Positive(&e.ApprovalTTL, 72*time.Hour); err != nil {
		return c.at("signin.enrol.approval_ttl", "%v", err)
	}
	if e.ApprovalTTL.Duration > 30*24*time.Hour {
		return c.at("signin.enrol.approval_ttl", "%s is more than 30d", e.ApprovalTTL.Duration)
	}
	if e.MaxPending == 0 {
		e.MaxPending = 20
	}
	if e.MaxPending < 1 || e.MaxPending > 1000 {
		return c.at("signin.enrol.max_pending", "%d is outside 1-1000", e.MaxPending)
	}
	for _, a := range e.Notify {
		if _, err := netmail.ParseAddress(a); err != nil {
			return c.at("signin.enrol.notify", "%q is not an e-mail address: %v", a, err)
		}
	}
	if len(e.Notify) > 0 && c.SMTP.Host == "" {
		return c.at("signin.enrol.notify", "mailing the admins needs smtp: (smtp.host)")
	}
	return nil
}

// NeedsApproval says whether a sign-in enrolment of a user in groups
// waits for an admin (signin.enrol.approval and its group lists).
func (c *Config) NeedsApproval(groups []string) bool {
	e := c.Signin.Enrol
	if e.Approval != ApprovalRequired {
		return false
	}
	in := func(list []string) bool {
		for _, g := range list {
			if slices.Contains(groups, g) {
				return true
			}
		}
		return false
	}
	switch {
	case len(e.ApprovalGroups) > 0:
		return in(e.ApprovalGroups)
	case len(e.ApprovalExceptGroups) > 0:
		return !in(e.ApprovalExceptGroups)
	}
	return true
}

// ConsoleURL is where admins open the console: the LAN listener's
// sign-in URL when signin.admin is set, else the tunnel's admin listener.
func (c *Config) ConsoleURL() string {
	if c.Signin.Admin.URL != "" {
		return c.Signin.Admin.URL
	}
	if c.Admin.Port == 0 || c.Admin.Port == 443 {
		return "https://" + c.Tunnel.Address
	}
	return "https://" + net.JoinHostPort(c.Tunnel.Address, strconv.Itoa(c.Admin.Port))
}

// AdminSignin is admin sign-in at the LAN admin listener, nil when
// signin.admin is not configured; key gives the cookie key (the gateway's
// state_dir/signin.key), asked for only when it is.
func (c *Config) AdminSignin(key func() ([]byte, error)) (*signin.AdminConfig, error) {
	a := c.Signin.Admin
	if c.Signin.Issuer == "" || a.URL == "" {
		return nil, nil
	}
	k, err := key()
	if err != nil {
		return nil, err
	}
	rp := c.SigninConfig(a.URL+"/signin/callback", k)
	rp.CookieName, rp.ReturnOrigins = "licgate_admin_signin", nil
	return &signin.AdminConfig{Config: rp, AdminGroups: a.AdminGroups, ReadonlyGroups: a.ReadonlyGroups,
		Session: a.Session.Or(0)}, nil
}

// SigninConfig is the signin package's config; redirect is the public
// callback URL and key the cookie key (the gateway keeps one in state_dir).
func (c *Config) SigninConfig(redirect string, key []byte) signin.Config {
	s := c.Signin
	return signin.Config{Preset: s.Preset, Issuer: s.Issuer, ClientID: s.ClientID, ClientSecretFile: s.ClientSecretFile,
		RedirectURL: redirect, Scopes: s.Scopes, UserClaim: s.UserClaim, GroupsClaim: s.GroupsClaim,
		AllowedDomains: s.AllowedDomains, CookieKey: key, ReturnOrigins: []string{"https://" + c.Tunnel.Address},
		Reauth: reauth(s.Reauth)}
}

// reauth maps signin.reauth onto signin.Config.Reauth: unset 0 (the
// default, 5m), 0 off (-1).
func reauth(d confval.Duration) time.Duration {
	if d.IsSet() && d.Duration == 0 {
		return -1
	}
	return d.Duration
}
