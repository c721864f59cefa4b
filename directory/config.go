package directory

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Presets name a directory flavour whose defaults fill every empty field.
const (
	// PresetActiveDirectory: user name sAMAccountName, groups resolved by
	// the server with LDAP_MATCHING_RULE_IN_CHAIN, disabled accounts by
	// userAccountControl bit 2 (ACCOUNTDISABLE).
	PresetActiveDirectory = "active_directory"
	// PresetOpenLDAP: user name uid, groupOfNames groups read with their
	// member attribute and nested groups walked here, disabled accounts by
	// pwdAccountLockedTime (ppolicy).
	PresetOpenLDAP = "openldap"
)

// Membership modes: how a user's groups are found.
const (
	// MembershipMemberOf reads the user's memberOf attribute (AD, or
	// OpenLDAP's memberof overlay) and walks up through the groups' own
	// memberOf values for nesting.
	MembershipMemberOf = "memberof"
	// MembershipMember reads every group's member attribute and walks the
	// groupOfNames graph (works on any LDAP server, no overlay needed).
	MembershipMember = "member"
	// MembershipInChain asks the server, once per group, for the users
	// that are members at any depth with the matching rule
	// 1.2.840.113556.1.4.1941 (LDAP_MATCHING_RULE_IN_CHAIN). Active
	// Directory only: OpenLDAP does not implement that rule and would
	// answer no members at all.
	MembershipInChain = "in_chain"
)

// InChainRule is Active Directory's LDAP_MATCHING_RULE_IN_CHAIN.
const InChainRule = "1.2.840.113556.1.4.1941"

// Validation errors, wrapped with detail by Validate.
var (
	ErrNoURL         = errors.New("directory: url is required")
	ErrBadURL        = errors.New("directory: url must be ldap://host[:port] (StartTLS) or ldaps://host[:port]")
	ErrNoBaseDN      = errors.New("directory: base_dn is required")
	ErrBadDN         = errors.New("directory: malformed DN")
	ErrNoPassword    = errors.New("directory: bind_dn needs a password_file")
	ErrBadPreset     = errors.New("directory: unknown preset")
	ErrBadFilter     = errors.New("directory: malformed LDAP filter")
	ErrBadMembership = errors.New("directory: unknown membership mode")
	ErrBadAttribute  = errors.New("directory: bad attribute name")
	ErrBadLimit      = errors.New("directory: bad limit")
)

// Config says where the directory is and how to read users and groups
// from it. Empty fields take the preset's value; the preset defaults to
// "openldap".
type Config struct {
	// URL is ldap://host[:port] (StartTLS is always done; a server that
	// refuses it is an error) or ldaps://host[:port]. Required.
	URL string
	// CAFile is a PEM bundle the server's certificate must chain to. If
	// empty, the system roots.
	CAFile string
	// ServerName is the name checked in the server's certificate. If
	// empty, the URL's host.
	ServerName string

	// BindDN is the service account to bind as; empty binds anonymously.
	BindDN string
	// PasswordFile holds BindDN's password (one trailing newline is
	// dropped). Read at every sync, so it can be rotated. Required with
	// BindDN.
	PasswordFile string

	// BaseDN is where users and groups are searched. Required.
	BaseDN string
	// UserBaseDN and GroupBaseDN narrow the searches. If empty, BaseDN.
	UserBaseDN  string
	GroupBaseDN string

	// Preset is "active_directory" or "openldap". If empty, "openldap".
	Preset string

	// UserFilter selects the user entries. If empty, AD:
	// (&(objectCategory=person)(objectClass=user)); OpenLDAP:
	// (objectClass=inetOrgPerson).
	UserFilter string
	// GroupFilter selects the groups that are reported (and, for
	// memberof/member, walked for nesting: a group between two reported
	// groups must match it too). If empty, AD: (objectClass=group);
	// OpenLDAP: (objectClass=groupOfNames).
	GroupFilter string
	// DisabledFilter selects, among the users, the disabled ones. If
	// empty, AD: (userAccountControl:1.2.840.113556.1.4.803:=2);
	// OpenLDAP: (pwdAccountLockedTime=*). Set it to, say,
	// (employeeType=disabled) for a directory without ppolicy.
	DisabledFilter string

	// Membership is "memberof", "member" or "in_chain" (see the
	// Membership constants). If empty, AD: in_chain; OpenLDAP: member.
	Membership string

	// Attribute mapping. If empty, AD: sAMAccountName (userPrincipalName
	// also works), OpenLDAP: uid; mail; cn; memberOf; member.
	UserNameAttribute  string
	EmailAttribute     string
	GroupNameAttribute string
	MemberOfAttribute  string
	MemberAttribute    string

	// PageSize is the paged-results page size. If zero, 500.
	PageSize int
	// MaxEntries caps the users (and, separately, the groups) one sync
	// accepts; more is an error rather than a partial snapshot. If zero,
	// 100000.
	MaxEntries int
	// Timeout bounds one sync (dial, bind, all searches). If zero, 60s.
	Timeout time.Duration

	// AllowEmpty accepts a snapshot with no users after one that had
	// some. Off, such a snapshot is refused as suspicious (a changed
	// filter, a moved OU, a service account losing read rights all look
	// like "everyone left").
	AllowEmpty bool
	// MaxChange is the share of users (of the last snapshot's) that one
	// sync may take rights from: users who vanish, are newly disabled,
	// or leave a group that matters (Syncer.Relevant). More than that,
	// and more than MaxChangeUsers, is refused as suspicious and held
	// back until Syncer.Accept. If zero, MaxDrop, else 0.1; 1 disables
	// the check.
	MaxChange float64
	// MaxChangeUsers is how many users one sync may always take rights
	// from, whatever the share (small directories). If zero, 5.
	MaxChangeUsers int
	// MaxDrop is the older name of MaxChange (it counted only users who
	// vanished); used when MaxChange is zero.
	MaxDrop float64
}

type preset struct {
	userFilter, groupFilter, disabledFilter, membership string
	userName                                            string
}

var presets = map[string]preset{
	PresetActiveDirectory: {
		userFilter:     "(&(objectCategory=person)(objectClass=user))",
		groupFilter:    "(objectClass=group)",
		disabledFilter: "(userAccountControl:1.2.840.113556.1.4.803:=2)",
		membership:     MembershipInChain,
		userName:       "sAMAccountName",
	},
	PresetOpenLDAP: {
		userFilter:     "(objectClass=inetOrgPerson)",
		groupFilter:    "(objectClass=groupOfNames)",
		disabledFilter: "(pwdAccountLockedTime=*)",
		membership:     MembershipMember,
		userName:       "uid",
	},
}

// resolved returns c with every empty field filled from its preset and
// the built-in defaults. It does not validate.
func (c Config) resolved() Config {
	if c.Preset == "" {
		c.Preset = PresetOpenLDAP
	}
	p := presets[c.Preset]
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.UserBaseDN, c.BaseDN)
	def(&c.GroupBaseDN, c.BaseDN)
	def(&c.UserFilter, p.userFilter)
	def(&c.GroupFilter, p.groupFilter)
	def(&c.DisabledFilter, p.disabledFilter)
	def(&c.Membership, p.membership)
	def(&c.UserNameAttribute, p.userName)
	def(&c.EmailAttribute, "mail")
	def(&c.GroupNameAttribute, "cn")
	def(&c.MemberOfAttribute, "memberOf")
	def(&c.MemberAttribute, "member")
	if c.PageSize == 0 {
		c.PageSize = 500
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = 100000
	}
	if c.Timeout == 0 {
		c.Timeout = 60 * time.Second
	}
	if c.MaxChange == 0 {
		c.MaxChange = c.MaxDrop
	}
	if c.MaxChange == 0 {
		c.MaxChange = 0.1
	}
	if c.MaxChangeUsers == 0 {
		c.MaxChangeUsers = 5
	}
	return c
}

// Validate checks c without touching the network or the file system and
// returns every problem found, each wrapping one of the Err* sentinels.
func Validate(c Config) error {
	var errs []error
	add := func(err error, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{err}, args...)...))
	}
	if c.Preset != "" {
		if _, ok := presets[c.Preset]; !ok {
			add(ErrBadPreset, "%q (want %q or %q)", c.Preset, PresetActiveDirectory, PresetOpenLDAP)
		}
	}
	r := c.resolved()
	if c.URL == "" {
		errs = append(errs, ErrNoURL)
	} else if _, _, err := parseURL(c.URL); err != nil {
		errs = append(errs, err)
	}
	if c.BaseDN == "" {
		errs = append(errs, ErrNoBaseDN)
	}
	for _, d := range []struct{ key, v string }{
		{"base_dn", c.BaseDN}, {"user_base_dn", c.UserBaseDN}, {"group_base_dn", c.GroupBaseDN}, {"bind_dn", c.BindDN},
	} {
		if d.v == "" {
			continue
		}
		if _, err := ldap.ParseDN(d.v); err != nil {
			add(ErrBadDN, "%s %q: %v", d.key, d.v, err)
		}
	}
	if c.BindDN != "" && c.PasswordFile == "" {
		errs = append(errs, ErrNoPassword)
	}
	for _, f := range []struct{ key, v string }{
		{"user_filter", r.UserFilter}, {"group_filter", r.GroupFilter}, {"disabled_filter", r.DisabledFilter},
	} {
		if _, err := ldap.CompileFilter(f.v); err != nil {
			add(ErrBadFilter, "%s %q: %v", f.key, f.v, err)
		}
	}
	switch r.Membership {
	case MembershipMemberOf, MembershipMember, MembershipInChain:
	default:
		add(ErrBadMembership, "%q (want %q, %q or %q)", r.Membership, MembershipMemberOf, MembershipMember, MembershipInChain)
	}
	for _, a := range []struct{ key, v string }{
		{"user_name_attribute", r.UserNameAttribute}, {"email_attribute", r.EmailAttribute},
		{"group_name_attribute", r.GroupNameAttribute}, {"member_of_attribute", r.MemberOfAttribute},
		{"member_attribute", r.MemberAttribute},
	} {
		if !validAttr(a.v) {
			add(ErrBadAttribute, "%s %q", a.key, a.v)
		}
	}
	if c.PageSize < 0 || c.PageSize > 1<<20 {
		add(ErrBadLimit, "page_size %d", c.PageSize)
	}
	if c.MaxEntries < 0 {
		add(ErrBadLimit, "max_entries %d", c.MaxEntries)
	}
	if c.Timeout < 0 {
		add(ErrBadLimit, "timeout %v", c.Timeout)
	}
	if c.MaxDrop < 0 || c.MaxDrop > 1 {
		add(ErrBadLimit, "max_drop %v (want 0..1)", c.MaxDrop)
	}
	if c.MaxChange < 0 || c.MaxChange > 1 {
		add(ErrBadLimit, "max_change %v (want 0..1)", c.MaxChange)
	}
	if c.MaxChangeUsers < 0 {
		add(ErrBadLimit, "max_change_users %d", c.MaxChangeUsers)
	}
	return errors.Join(errs...)
}

// validAttr accepts an attribute description: a name (letters, digits,
// hyphens, starting with a letter) or a numeric OID.
func validAttr(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case (r >= '0' && r <= '9') || r == '-' || r == '.':
			if i == 0 && r != '.' && (r < '0' || r > '9') {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// parseURL returns the dial address and whether the transport is TLS
// from the start (ldaps) rather than StartTLS (ldap).
func parseURL(s string) (addr string, implicitTLS bool, err error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", false, fmt.Errorf("%w: got %q", ErrBadURL, s)
	}
	port := u.Port()
	switch strings.ToLower(u.Scheme) {
	case "ldap":
		if port == "" {
			port = "389"
		}
	case "ldaps":
		implicitTLS = true
		if port == "" {
			port = "636"
		}
	default:
		return "", false, fmt.Errorf("%w: got %q", ErrBadURL, s)
	}
	return net.JoinHostPort(u.Hostname(), port), implicitTLS, nil
}
