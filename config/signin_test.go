package config

import (
	"errors"
	"strings"
	"testing"
)

// TestSigninIdentityConfig (issue 23, finding 1): sign-in without
// allowed_domains, with a user claim the account's owner chooses, or with an
// unknown unlock scope is refused, naming the file and line; unlock defaults
// to device.
func TestSigninIdentityConfig(t *testing.T) {
	const base = "public:\n  listen: ':443'\n  name: office.example.com\nsignin:\n  issuer: https://idp.example.com\n  client_id: c\n  client_secret_file: /s\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"no allowed_domains", base, "c.yaml:4: signin: signin: bad config: allowed_domains: missing"},
		{"username claim", base + "  allowed_domains: [example.com]\n  user_claim: preferred_username\n", "user_claim"},
		{"entra email", base + "  preset: entra\n  allowed_domains: [example.com]\n  user_claim: email\n", "user_claim"},
		{"unlock scope", base + "  allowed_domains: [example.com]\n  unlock: everything\n", "signin.unlock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tc.yaml))
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\ndoes not contain %q", err, tc.want)
			}
		})
	}
	c, err := Parse("c.yaml", []byte(base+"  allowed_domains: [example.com]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Signin.Unlock != UnlockDevice {
		t.Errorf("signin.unlock defaults to %q, want device", c.Signin.Unlock)
	}
}
