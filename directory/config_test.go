package directory

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

func TestValidate(t *testing.T) {
	ok := Config{URL: "ldap://ldap.example.org", BaseDN: "dc=example,dc=org", BindDN: "cn=r,dc=example,dc=org", PasswordFile: "/pw"}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want []error // nil: valid
	}{
		{"ok", func(c *Config) {}, nil},
		{"ldaps", func(c *Config) { c.URL = "ldaps://dc1:3269" }, nil},
		{"anonymous", func(c *Config) { c.BindDN, c.PasswordFile = "", "" }, nil},
		{"ad", func(c *Config) { c.Preset = PresetActiveDirectory; c.UserNameAttribute = "userPrincipalName" }, nil},
		{"no url", func(c *Config) { c.URL = "" }, []error{ErrNoURL}},
		{"http url", func(c *Config) { c.URL = "http://x" }, []error{ErrBadURL}},
		{"url path", func(c *Config) { c.URL = "ldap://x/dc=example" }, []error{ErrBadURL}},
		{"no host", func(c *Config) { c.URL = "ldap://:389" }, []error{ErrBadURL}},
		{"no base", func(c *Config) { c.BaseDN = "" }, []error{ErrNoBaseDN}},
		{"bad base", func(c *Config) { c.BaseDN = "dc=example,,x" }, []error{ErrBadDN}},
		{"bad bind dn", func(c *Config) { c.BindDN = "nobody" }, []error{ErrBadDN}},
		{"no password", func(c *Config) { c.PasswordFile = "" }, []error{ErrNoPassword}},
		{"preset", func(c *Config) { c.Preset = "novell" }, []error{ErrBadPreset}},
		{"filter", func(c *Config) { c.UserFilter = "(uid=a" }, []error{ErrBadFilter}},
		{"disabled filter", func(c *Config) { c.DisabledFilter = "locked" }, []error{ErrBadFilter}},
		{"membership", func(c *Config) { c.Membership = "magic" }, []error{ErrBadMembership}},
		{"attribute", func(c *Config) { c.GroupNameAttribute = "cn)(x=*" }, []error{ErrBadAttribute}},
		{"page", func(c *Config) { c.PageSize = -1 }, []error{ErrBadLimit}},
		{"drop", func(c *Config) { c.MaxDrop = 1.5 }, []error{ErrBadLimit}},
		{"two at once", func(c *Config) { c.URL = ""; c.BaseDN = "" }, []error{ErrNoURL, ErrNoBaseDN}},
	} {
		c := ok
		tc.mod(&c)
		err := Validate(c)
		if tc.want == nil && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		for _, w := range tc.want {
			if !errors.Is(err, w) {
				t.Errorf("%s: %v, want %v", tc.name, err, w)
			}
		}
	}
}

func TestPresets(t *testing.T) {
	ad := Config{Preset: PresetActiveDirectory, BaseDN: "DC=corp,DC=example"}.resolved()
	if ad.UserNameAttribute != "sAMAccountName" || ad.Membership != MembershipInChain || ad.GroupNameAttribute != "cn" ||
		ad.UserBaseDN != "DC=corp,DC=example" || ad.Timeout != 60*time.Second || ad.PageSize != 500 {
		t.Errorf("ad = %+v", ad)
	}
	ol := Config{BaseDN: "dc=x"}.resolved()
	if ol.Preset != PresetOpenLDAP || ol.UserNameAttribute != "uid" || ol.Membership != MembershipMember || ol.DisabledFilter != "(pwdAccountLockedTime=*)" {
		t.Errorf("openldap = %+v", ol)
	}
	own := Config{Preset: PresetActiveDirectory, UserNameAttribute: "userPrincipalName", Membership: MembershipMemberOf}.resolved()
	if own.UserNameAttribute != "userPrincipalName" || own.Membership != MembershipMemberOf {
		t.Errorf("overrides lost: %+v", own)
	}
}

// Active Directory can't run here: its filters are checked as text.
func TestActiveDirectoryFilters(t *testing.T) {
	c := Config{Preset: PresetActiveDirectory}.resolved()
	if got, want := c.disabledFilter(), "(&(&(objectCategory=person)(objectClass=user))(userAccountControl:1.2.840.113556.1.4.803:=2))"; got != want {
		t.Errorf("disabled = %s\nwant       %s", got, want)
	}
	// A DN with filter metacharacters (parentheses, a backslash from an
	// escaped comma, a star) must reach the server escaped.
	dn := `CN=Lic (EU)\, *all*,OU=Groups,DC=corp,DC=example`
	got := c.inChainFilter(dn)
	want := `(&(&(objectCategory=person)(objectClass=user))(memberOf:1.2.840.113556.1.4.1941:=CN=Lic \28EU\29\5c, \2aall\2a,OU=Groups,DC=corp,DC=example))`
	if got != want {
		t.Errorf("in chain = %s\nwant         %s", got, want)
	}
	if !slices.Equal(c.userAttributes(), []string{"sAMAccountName", "mail"}) || !slices.Equal(c.groupAttributes(), []string{"cn"}) {
		t.Errorf("attributes: %v %v", c.userAttributes(), c.groupAttributes())
	}
	if err := Validate(Config{Preset: PresetActiveDirectory, URL: "ldaps://dc1", BaseDN: "DC=corp,DC=example"}); err != nil {
		t.Error(err)
	}
	mo := Config{Preset: PresetActiveDirectory, Membership: MembershipMemberOf}.resolved()
	if !slices.Equal(mo.userAttributes(), []string{"sAMAccountName", "mail", "memberOf"}) || !slices.Equal(mo.groupAttributes(), []string{"cn", "memberOf"}) {
		t.Errorf("memberof attributes: %v %v", mo.userAttributes(), mo.groupAttributes())
	}
}

func TestClosureCycles(t *testing.T) {
	g := map[string]*group{
		"a": {name: "A"},
		"b": {name: "B", up: []string{"a", "c"}},
		"c": {name: "C", up: []string{"b"}},    // b <-> c
		"d": {name: "D", up: []string{"gone"}}, // parent outside GroupFilter
	}
	got := closure(g, []string{"c", "d", "x"})
	slices.Sort(got)
	if strings.Join(got, ",") != "A,B,C,D" {
		t.Errorf("closure = %v", got)
	}
}

// TestCheckSuspicious: the safeguard counts users who vanish, are newly
// disabled or leave a group that matters, against max(MaxChange of the
// last snapshot's users, MaxChangeUsers).
func TestCheckSuspicious(t *testing.T) {
	// 21 users, u00..u20, each enabled and in "lic" and "staff".
	last := func() []User {
		var u []User
		for i := range 21 {
			u = append(u, User{Name: fmt.Sprintf("u%02d", i), Groups: []string{"lic", "staff"}})
		}
		return u
	}
	edit := func(n int, f func(*User) bool) []User { // f false: drop the user
		var out []User
		for i, u := range last() {
			if i < n && !f(&u) {
				continue
			}
			out = append(out, u)
		}
		return out
	}
	gone := func(*User) bool { return false }
	lock := func(u *User) bool { u.Disabled = true; return true }
	ungroup := func(u *User) bool { u.Groups = nil; return true }
	leaveLic := func(u *User) bool { u.Groups = []string{"staff"}; return true }
	onlyLic := func(g string) bool { return g == "lic" }
	notLic := func(g string) bool { return g != "lic" }
	for _, tc := range []struct {
		name     string
		now      []User
		cfg      Config
		relevant func(string) bool
		refused  bool
	}{
		{"no change", last(), Config{}, nil, false},
		{"5 locked (the minimum count)", edit(5, lock), Config{}, nil, false},
		{"6 locked", edit(6, lock), Config{}, nil, true},
		{"20 locked", edit(20, lock), Config{}, nil, true},
		{"20 locked, max_change 1", edit(20, lock), Config{MaxChange: 1}, nil, false},
		{"20 ungrouped", edit(20, ungroup), Config{}, nil, true},
		{"20 vanished", edit(20, gone), Config{}, nil, true},
		{"6 vanished", edit(6, gone), Config{}, nil, true},
		{"all vanished", nil, Config{}, nil, true},
		{"all vanished, allow_empty", nil, Config{AllowEmpty: true}, nil, false},
		{"20 leave lic (it matters)", edit(20, leaveLic), Config{}, onlyLic, true},
		{"20 leave lic (it does not matter)", edit(20, leaveLic), Config{}, notLic, false},
		{"10 locked, max_change 0.5", edit(10, lock), Config{MaxChange: 0.5}, nil, false},
		{"11 locked, max_change 0.5", edit(11, lock), Config{MaxChange: 0.5}, nil, true},
		{"11 locked, max_drop 0.5 (older name)", edit(11, lock), Config{MaxDrop: 0.5}, nil, true},
		{"8 locked, max_change_users 8", edit(8, lock), Config{MaxChangeUsers: 8}, nil, false},
	} {
		s := New(tc.cfg, nil)
		s.Relevant = tc.relevant
		s.last, s.have = Snapshot{Users: last()}, true
		h, err := s.check(Snapshot{Users: tc.now})
		if errors.Is(err, ErrSuspicious) != tc.refused || (h != nil) != tc.refused {
			t.Errorf("%s: %v, held %+v", tc.name, err, h)
		}
	}
	// Users already disabled have no rights to lose: removing 20 of them
	// is a clean-up, not a suspicious snapshot.
	s := New(Config{}, nil)
	s.last, s.have = Snapshot{Users: edit(20, lock)}, true
	if _, err := s.check(Snapshot{Users: last()[20:]}); err != nil {
		t.Errorf("removing 20 disabled users: %v", err)
	}
}

func TestDiff(t *testing.T) {
	old := Snapshot{Users: []User{
		{Name: "alice", Groups: []string{"eng", "lic"}},
		{Name: "Bob", Groups: []string{"lic"}},
		{Name: "carol", Disabled: true},
		{Name: "dave", Groups: []string{"lic"}},
		{Name: "same", Groups: []string{"x"}},
	}}
	new := Snapshot{Users: []User{
		{Name: "alice", Groups: []string{"eng", "ops"}},
		{Name: "bob", Groups: []string{"lic"}, Disabled: true},
		{Name: "carol"},
		{Name: "erin", Groups: []string{"lic"}},
		{Name: "same", Groups: []string{"x"}},
	}}
	got := Diff(old, new)
	want := []Change{
		{Name: "alice", GroupsAdded: []string{"ops"}, GroupsRemoved: []string{"lic"}},
		{Name: "bob", Disabled: true},
		{Name: "carol", Enabled: true},
		{Name: "dave", Removed: true, GroupsRemoved: []string{"lic"}},
		{Name: "erin", Added: true, GroupsAdded: []string{"lic"}},
	}
	if len(got) != len(want) {
		t.Fatalf("diff = %+v", got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.Added != w.Added || g.Removed != w.Removed || g.Disabled != w.Disabled || g.Enabled != w.Enabled ||
			!slices.Equal(g.GroupsAdded, w.GroupsAdded) || !slices.Equal(g.GroupsRemoved, w.GroupsRemoved) {
			t.Errorf("change %d = %+v, want %+v", i, g, w)
		}
	}
	cut := map[string]bool{"alice": true, "bob": true, "carol": false, "dave": true, "erin": false}
	for _, c := range got {
		if c.CutSessions() != cut[c.Name] {
			t.Errorf("%s: CutSessions = %v", c.Name, c.CutSessions())
		}
	}
	if d := Diff(new, new); len(d) != 0 {
		t.Errorf("no change: %+v", d)
	}
}

func TestRangedAttributeRefused(t *testing.T) {
	e := ldap.NewEntry("CN=big,DC=corp", map[string][]string{"cn": {"big"}, "member;range=0-1499": {"CN=a,DC=corp"}})
	if err := ranged(e, "member", "memberOf"); !errors.Is(err, ErrSearch) || !strings.Contains(err.Error(), "member;range=0-1499") {
		t.Errorf("ranged member: %v", err)
	}
	if err := ranged(ldap.NewEntry("CN=x", map[string][]string{"member": {"CN=a"}, "memberOf": {"CN=b"}}), "member", "memberOf"); err != nil {
		t.Errorf("whole lists: %v", err)
	}
}
