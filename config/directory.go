package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/directory"
	"github.com/licgate/licgate/internal/confval"
)

// DirectoryConfig syncs users and groups from LDAP or Active Directory:
// directory groups are usable in rules as group:NAME like local groups,
// and users disabled or removed in the directory are disabled here (their
// sessions cut) at the next sync. See docs/directory.md.
type DirectoryConfig struct {
	// URL is ldaps://host[:636] or ldap://host[:389] (StartTLS, always).
	// Empty: no directory.
	URL          string `yaml:"url"`
	CAFile       string `yaml:"ca_file"`
	ServerName   string `yaml:"server_name"`
	BindDN       string `yaml:"bind_dn"`
	PasswordFile string `yaml:"password_file"`
	BaseDN       string `yaml:"base_dn"`
	UserBaseDN   string `yaml:"user_base_dn"`
	GroupBaseDN  string `yaml:"group_base_dn"`
	// Preset: openldap (default) or active_directory.
	Preset         string `yaml:"preset"`
	UserFilter     string `yaml:"user_filter"`
	GroupFilter    string `yaml:"group_filter"`
	DisabledFilter string `yaml:"disabled_filter"`
	// Membership: member, memberof or in_chain (preset default).
	Membership string `yaml:"membership"`
	Attributes struct {
		UserName  string `yaml:"user_name"`
		Email     string `yaml:"email"`
		GroupName string `yaml:"group_name"`
		MemberOf  string `yaml:"member_of"`
		Member    string `yaml:"member"`
	} `yaml:"attributes"`
	PageSize   int              `yaml:"page_size"`
	MaxEntries int              `yaml:"max_entries"`
	Timeout    confval.Duration `yaml:"timeout"`
	// Interval between syncs. If empty, 5m.
	Interval   confval.Duration `yaml:"interval"`
	AllowEmpty bool             `yaml:"allow_empty"`
	// MaxChange is the share of users one sync may take rights from
	// (vanished, disabled, out of a policy group); more, and more than
	// MaxChangeUsers, is held back until `licgate directory accept`. If
	// zero, max_drop, else 0.1; 1 turns the safeguard off.
	MaxChange float64 `yaml:"max_change"`
	// MaxChangeUsers may always change at once. If zero, 5.
	MaxChangeUsers int `yaml:"max_change_users"`
	// MaxDrop is the older name of max_change.
	MaxDrop float64 `yaml:"max_drop"`
}

// DirectoryConfig is the directory package's config (zero URL: none).
func (c *Config) DirectorySyncConfig() directory.Config {
	d := c.Directory
	return directory.Config{URL: d.URL, CAFile: d.CAFile, ServerName: d.ServerName, BindDN: d.BindDN, PasswordFile: d.PasswordFile,
		BaseDN: d.BaseDN, UserBaseDN: d.UserBaseDN, GroupBaseDN: d.GroupBaseDN, Preset: d.Preset, UserFilter: d.UserFilter,
		GroupFilter: d.GroupFilter, DisabledFilter: d.DisabledFilter, Membership: d.Membership,
		UserNameAttribute: d.Attributes.UserName, EmailAttribute: d.Attributes.Email, GroupNameAttribute: d.Attributes.GroupName,
		MemberOfAttribute: d.Attributes.MemberOf, MemberAttribute: d.Attributes.Member, PageSize: d.PageSize, MaxEntries: d.MaxEntries,
		Timeout: d.Timeout.Duration, AllowEmpty: d.AllowEmpty, MaxDrop: d.MaxDrop, MaxChange: d.MaxChange, MaxChangeUsers: d.MaxChangeUsers}
}

func (c *Config) validateDirectory() error {
	d := &c.Directory
	if d.URL == "" {
		return nil
	}
	for _, p := range []*string{&d.PasswordFile, &d.CAFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(filepath.Dir(c.file), *p)
		}
	}
	if err := confval.Positive(&d.Interval, 0); err != nil {
		return c.at("directory.interval", "%v", err)
	}
	if err := directory.Validate(c.DirectorySyncConfig()); err != nil {
		return c.at("directory", "%v", err)
	}
	return nil
}

var groupNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// PolicyGroupName is how a directory group is named in rules: lowercase;
// "" if it cannot be a policy group name.
func PolicyGroupName(dirGroup string) string {
	n := strings.ToLower(strings.TrimSpace(dirGroup))
	n = strings.ReplaceAll(n, " ", "-")
	if !groupNameRE.MatchString(n) {
		return ""
	}
	return n
}

// directoryPlaceholders adds an empty group for every group:NAME a rule
// names that the policy does not define, when a directory is configured:
// the directory fills them at each sync. It returns their names.
func directoryPlaceholders(pol *acl.Policy) []string {
	var added []string
	for _, r := range pol.Rules {
		for _, w := range r.Who {
			name, ok := strings.CutPrefix(w, "group:")
			if !ok {
				continue
			}
			if _, def := pol.Groups[name]; def {
				continue
			}
			if pol.Groups == nil {
				pol.Groups = map[string]acl.GroupSpec{}
			}
			pol.Groups[name] = acl.GroupSpec{Line: pol.Line}
			pol.GroupOrder = append(pol.GroupOrder, name)
			added = append(added, name)
		}
	}
	return added
}

// EngineWith compiles the policy with the directory's memberships merged
// into its groups (group -> user names): a directory group that the
// policy also defines gets the directory's members too. The config's own
// engine (Engine) is the policy without them.
func (c *Config) EngineWith(members map[string][]string) (*acl.Engine, error) {
	if c.parsed == nil {
		return c.engine, nil
	}
	pol := *c.parsed
	pol.Groups = make(map[string]acl.GroupSpec, len(c.parsed.Groups))
	for k, v := range c.parsed.Groups {
		pol.Groups[k] = v
	}
	pol.GroupOrder = append([]string(nil), c.parsed.GroupOrder...)
	names := make([]string, 0, len(members))
	for g := range members {
		names = append(names, g)
	}
	sort.Strings(names)
	for _, g := range names {
		spec, ok := pol.Groups[g]
		if !ok {
			spec.Line = pol.Line
			pol.GroupOrder = append(pol.GroupOrder, g)
		}
		spec.Members = append(append([]string(nil), spec.Members...), members[g]...)
		pol.Groups[g] = spec
	}
	svc := make([]string, len(c.Services))
	for i, s := range c.Services {
		svc[i] = s.Name
	}
	eng, _, err := acl.Compile(&pol, svc)
	if err != nil {
		return nil, fmt.Errorf("%w: policy with the directory's groups: %w", ErrConfig, err)
	}
	return eng, nil
}
