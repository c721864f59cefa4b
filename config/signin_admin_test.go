package config

import (
	"strings"
	"testing"
	"time"
)

// TestSigninAdmin: signin.admin needs the LAN listener, derives its URL
// from it, and hands adminauth a relying party whose callback is on the
// LAN listener, with the role groups and the session length.
func TestSigninAdmin(t *testing.T) {
	base := `
public: {listen: ":443", name: office.example.com}
signin:
  issuer: https://sso.example.com/realms/office
  client_id: licgate
  client_secret_file: /etc/licgate/signin-secret
  groups_claim: groups
  allowed_domains: [example.com]
`
	key := func() ([]byte, error) { return make([]byte, 32), nil }
	for _, row := range []struct {
		name, extra, want string
		url               string
	}{
		{name: "default url", extra: "admin: {lan_listen: \"192.168.1.5:8443\", token_file: t}\n", want: "",
			url: "https://192.168.1.5:8443/signin/callback"},
		{name: "own url", extra: "admin: {lan_listen: \":8443\", token_file: t}\n", want: "", url: "https://gw.example.com:8443/signin/callback"},
		{name: "no lan listener", want: "set admin.lan_listen"},
		{name: "unspecified host", extra: "admin: {lan_listen: \":8443\", token_file: t}\n", want: "signin.admin.url: missing"},
		{name: "url with a path", extra: "admin: {lan_listen: \":8443\", token_file: t}\n", want: "want https://host[:port]"},
		{name: "no groups", extra: "admin: {lan_listen: \"192.168.1.5:8443\", token_file: t}\n", want: "neither admin_groups nor readonly_groups"},
	} {
		admin := "  admin: {admin_groups: [licgate-admins], readonly_groups: [helpdesk], session: 2h}\n"
		switch row.name {
		case "own url":
			admin = "  admin: {admin_groups: [licgate-admins], url: \"https://gw.example.com:8443/\"}\n"
		case "url with a path":
			admin = "  admin: {admin_groups: [a], url: \"https://gw.example.com/console\"}\n"
		case "no groups":
			admin = "  admin: {session: 1h}\n"
		}
		c, err := Parse("licgate.yaml", []byte(base+admin+row.extra))
		if row.want != "" {
			if err == nil || !strings.Contains(err.Error(), row.want) {
				t.Errorf("%s: err %v, want %q", row.name, err, row.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", row.name, err)
			continue
		}
		as, err := c.AdminSignin(key)
		if err != nil || as == nil {
			t.Fatalf("%s: %v %v", row.name, as, err)
		}
		if as.RedirectURL != row.url || as.AdminGroups[0] != "licgate-admins" || as.CookieName != "licgate_admin_signin" {
			t.Errorf("%s: %+v", row.name, as)
		}
		if row.name == "default url" && (as.Session != 2*time.Hour || as.ReadonlyGroups[0] != "helpdesk") {
			t.Errorf("%s: session %s readonly %v", row.name, as.Session, as.ReadonlyGroups)
		}
	}
	// Without signin.admin: nil, and the key is not asked for.
	c, err := Parse("licgate.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	as, err := c.AdminSignin(func() ([]byte, error) { t.Fatal("key asked for"); return nil, nil })
	if as != nil || err != nil {
		t.Errorf("no signin.admin: %v %v", as, err)
	}
}
