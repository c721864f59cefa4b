//go:build linux

package directory_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	lgconfig "github.com/licgate/licgate/config"
	"github.com/licgate/licgate/directory"
	"github.com/licgate/licgate/directory/directorytest"
	"github.com/licgate/licgate/internal/testnet"
	"go.uber.org/goleak"
)

// TestSambaActiveDirectory runs the active_directory preset against a
// real AD domain controller (Samba's), provisioned for the test: one
// domain for all the subtests, which run in order (the last ones change
// the directory).
//
// The fixture, in OU=Office: lic-archicad contains bob and team-design,
// which contains alice and team-interiors, which contains dave; carol is
// in lic-revit; erin is in no group. OU=Staff holds 25 users in
// lic-viewer, so that users and in-chain members take several pages.
func TestSambaActiveDirectory(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // first registered, runs after samba stops
	dc := directorytest.StartSamba(t, directorytest.SambaOptions{})
	t.Logf("domain controller: samba %s", dc.Version)

	office := dc.AddOU(t, "Office")
	u := dc.AddUsers(t, office, "alice", "bob", "carol", "dave", "erin")
	interiors := dc.AddGroup(t, office, "team-interiors", u[3])
	design := dc.AddGroup(t, office, "team-design", u[0], interiors)
	dc.AddGroup(t, office, "lic-archicad", design, u[1])
	dc.AddGroup(t, office, "lic-revit", u[2])
	staffOU := dc.AddOU(t, "Staff")
	var staff []string
	for i := range 25 {
		staff = append(staff, fmt.Sprintf("staff%02d", i))
	}
	dc.AddGroup(t, staffOU, "lic-viewer", dc.AddUsers(t, staffOU, staff...)...)

	const pageSize = 10
	// The configuration of docs/directory.md, as licgate loads it, with
	// the test's CA and password files and a small page.
	documented := docsADConfig(t)
	if documented.URL != dc.URL || documented.BindDN != dc.ReaderDN || documented.BaseDN != dc.BaseDN {
		t.Fatalf("docs/directory.md's configuration does not name the test's domain: %+v", documented)
	}
	adConfig := func() directory.Config {
		cfg := documented
		cfg.CAFile, cfg.PasswordFile = dc.CAFile, dc.ReaderPasswordFile
		cfg.PageSize, cfg.Timeout = pageSize, time.Minute
		return cfg
	}
	syncer := func(t *testing.T, cfg directory.Config) *directory.Syncer {
		t.Helper()
		if err := directory.Validate(cfg); err != nil {
			t.Fatal(err)
		}
		s := directory.New(cfg, testLogger(t))
		s.Dial = dc.Dial // the DC is in its own network namespace
		return s
	}
	ctx := context.Background()

	// want is the fixture as the lic-* filter reports it: user -> groups.
	// The domain has four accounts of its own (dns-dc1 is made by the
	// provisioning even without a DNS backend) and licgate's.
	want := map[string]string{
		"Administrator": "", "Guest": "", "krbtgt": "", "dns-dc1": "", "licgate": "",
		"alice": "lic-archicad", "bob": "lic-archicad", "carol": "lic-revit", "dave": "lic-archicad", "erin": "",
	}
	for _, n := range staff {
		want[n] = "lic-viewer"
	}

	t.Run("NestedGroupsAndPaging", func(t *testing.T) {
		// The DC pages at pageSize: a first page of exactly pageSize with
		// a cookie, so the snapshot below took several pages.
		a := dc.Admin(t)
		res, err := a.Search(ldap.NewSearchRequest(dc.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			"(&(objectCategory=person)(objectClass=user))", []string{"cn"},
			[]ldap.Control{ldap.NewControlPaging(pageSize)}))
		a.Close()
		if err != nil {
			t.Fatal(err)
		}
		p, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if len(res.Entries) != pageSize || !ok || len(p.Cookie) == 0 {
			t.Fatalf("first page: %d entries, paging control %v: the DC does not page", len(res.Entries), p)
		}

		snap, err := syncer(t, adConfig()).Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := groupsOf(t, snap); !mapsEqual(got, want) {
			t.Errorf("users -> groups:\n%v\nwant\n%v", got, want)
		}
		if len(snap.Users) <= 3*pageSize {
			t.Errorf("%d users: the fixture should need more than 3 pages", len(snap.Users))
		}
		if !slices.Equal(snap.Groups, []string{"lic-archicad", "lic-revit", "lic-viewer"}) {
			t.Errorf("groups = %v", snap.Groups)
		}
		// userAccountControl: the built-in Guest and krbtgt accounts are
		// disabled in a new domain; the others are not.
		for _, usr := range snap.Users {
			if disabled := usr.Name == "Guest" || usr.Name == "krbtgt"; usr.Disabled != disabled {
				t.Errorf("%s: disabled = %v", usr.Name, usr.Disabled)
			}
		}
		if a, _ := snap.User("alice"); a.Email != "alice@corp.example" || !strings.EqualFold(a.DN, u[0]) {
			t.Errorf("alice = %+v", a)
		}
	})

	t.Run("AllGroups", func(t *testing.T) {
		// The preset's own group filter, every group of the domain: one
		// in-chain search per group, nesting resolved at any depth,
		// built-in groups too (Domain Admins is a member of Administrators).
		cfg := adConfig()
		cfg.GroupFilter = ""
		snap, err := syncer(t, cfg).Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := groupsOf(t, snap)
		for name, groups := range map[string]string{
			"alice":   "lic-archicad,team-design",
			"dave":    "lic-archicad,team-design,team-interiors",
			"bob":     "lic-archicad",
			"erin":    "",
			"staff07": "lic-viewer",
		} {
			if got[name] != groups {
				t.Errorf("%s: groups %q, want %q", name, got[name], groups)
			}
		}
		// Administrator's groups include nested built-in ones; the primary
		// group (Domain Users) is not in memberOf and is not reported.
		admin := strings.Split(got["Administrator"], ",")
		for _, g := range []string{"Domain Admins", "Administrators", "Enterprise Admins", "Schema Admins"} {
			if !slices.Contains(admin, g) {
				t.Errorf("Administrator lacks %s: %v", g, admin)
			}
		}
		if slices.Contains(admin, "Domain Users") {
			t.Errorf("Administrator's primary group reported: %v", admin)
		}
		if len(snap.Groups) < 30 || !slices.Contains(snap.Groups, "team-interiors") {
			t.Errorf("%d groups: %v", len(snap.Groups), snap.Groups)
		}
	})

	t.Run("UserPrincipalName", func(t *testing.T) {
		// The built-in accounts have no userPrincipalName (in Windows'
		// AD too): with it as the user name, they must be filtered out.
		cfg := adConfig()
		cfg.UserNameAttribute = "userPrincipalName"
		_, err := syncer(t, cfg).Sync(ctx)
		if !errors.Is(err, directory.ErrMissingAttribute) || !strings.Contains(err.Error(), "has no userPrincipalName") {
			t.Errorf("built-in accounts without a UPN: %v", err)
		}
		cfg.UserFilter = "(&(objectCategory=person)(objectClass=user)(userPrincipalName=*))"
		snap, err := syncer(t, cfg).Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Users) != len(want)-4 {
			t.Errorf("%d users with a UPN, want %d", len(snap.Users), len(want)-4)
		}
		if a, ok := snap.User("alice@corp.example"); !ok || strings.Join(a.Groups, ",") != "lic-archicad" {
			t.Errorf("alice@corp.example = %+v, %v", a, ok)
		}
	})

	t.Run("StartTLS", func(t *testing.T) {
		cfg := adConfig()
		cfg.URL = dc.LDAP
		snap, err := syncer(t, cfg).Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Users) != len(want) {
			t.Errorf("%d users over StartTLS, want %d", len(snap.Users), len(want))
		}
	})

	t.Run("WrongCA", func(t *testing.T) {
		cfg := adConfig()
		dir := t.TempDir()
		testnet.WriteCerts(t, dir, "not the domain's CA")
		cfg.CAFile = filepath.Join(dir, "ca.pem")
		_, err := syncer(t, cfg).Sync(ctx)
		if !errors.Is(err, directory.ErrTLS) || !strings.Contains(err.Error(), "ldaps "+dc.Host+":636") ||
			!strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Errorf("wrong CA: %v", err)
		}
	})

	t.Run("WrongPassword", func(t *testing.T) {
		cfg := adConfig()
		cfg.PasswordFile = filepath.Join(t.TempDir(), "wrong.pw")
		if err := os.WriteFile(cfg.PasswordFile, []byte("Not-the-Passw0rd\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := syncer(t, cfg).Sync(ctx)
		if !errors.Is(err, directory.ErrBind) || !strings.Contains(err.Error(), "wrong password") ||
			!strings.Contains(err.Error(), dc.ReaderDN) {
			t.Errorf("wrong password: %v", err)
		}
	})

	t.Run("DisabledRemovedUngrouped", func(t *testing.T) {
		// With the default safeguard (a tenth of the users, at least 5):
		// three users losing rights out of 34 is within the limit.
		s := syncer(t, adConfig())
		before, err := s.Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// What an administrator does, with the domain's own tool.
		dc.Tool(t, "user", "disable", "carol")
		dc.Tool(t, "user", "delete", "bob")
		dc.Tool(t, "group", "removemembers", "team-design", "team-interiors")
		after, err := s.Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := after.User("carol"); !c.Disabled {
			t.Errorf("carol not disabled: %+v", c)
		}
		if _, ok := after.User("bob"); ok {
			t.Error("bob still there")
		}
		var got []string
		for _, c := range directory.Diff(before, after) {
			got = append(got, describe(c))
		}
		wantDiff := []string{
			"bob cut removed -[lic-archicad]",
			"carol cut disabled",
			"dave cut -[lic-archicad]",
		}
		if !slices.Equal(got, wantDiff) {
			t.Errorf("diff =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantDiff, "\n"))
		}
		if st := s.Status(); st.Stale || st.Held != nil || st.Users != len(want)-1 {
			t.Errorf("status = %+v", st)
		}
	})

	// Samba's own self-signed certificate (what a DC has until it gets
	// one from a CA) names the host only in its Common Name, and its
	// random serial number is negative about half the time; Go, and so
	// licgate, refuses it even with its CA configured.
	dc.UseSambaCert()
	cfg := adConfig()
	cfg.CAFile = dc.SambaCAFile
	s := directory.New(cfg, testLogger(t))
	s.Dial = dc.Dial
	_, err := s.Sync(ctx)
	if !errors.Is(err, directory.ErrTLS) ||
		!strings.Contains(err.Error(), "legacy Common Name field") && !strings.Contains(err.Error(), "negative serial number") {
		t.Errorf("Samba's self-signed certificate: %v", err)
	}
}

// docsADConfig is the YAML block of docs/directory.md's "Active
// Directory" section, loaded as licgate loads its configuration file.
func docsADConfig(t *testing.T) directory.Config {
	t.Helper()
	doc, err := os.ReadFile("../docs/directory.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## Active Directory\n")
	if ok {
		_, section, ok = strings.Cut(section, "```yaml\n")
	}
	if ok {
		section, _, ok = strings.Cut(section, "```")
	}
	if !ok {
		t.Fatal("docs/directory.md: no yaml block in the Active Directory section")
	}
	c, err := lgconfig.Parse("docs/directory.md", []byte(section))
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.DirectorySyncConfig()
	if cfg.Preset != directory.PresetActiveDirectory {
		t.Fatalf("docs/directory.md's Active Directory configuration has preset %q", cfg.Preset)
	}
	return cfg
}
