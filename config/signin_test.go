package config

import (
	"errors"
	"strings"
	"testing"
	"time"
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

// TestSigninReauth: signin.reauth is 1m-24h or 0 (off), naming the key;
// unset leaves the signin package's default (5m), 0 turns it off (-1).
func TestSigninReauth(t *testing.T) {
	const base = "public:\n  listen: ':443'\n  name: office.example.com\nsignin:\n  issuer: https://idp.example.com\n  client_id: c\n  client_secret_file: /s\n  allowed_domains: [example.com]\n"
	for _, bad := range []string{"30s", "25h"} {
		if _, err := Parse("c.yaml", []byte(base+"  reauth: "+bad+"\n")); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "signin.reauth") {
			t.Errorf("reauth %s: %v", bad, err)
		}
	}
	for yaml, want := range map[string]time.Duration{"": 0, "  reauth: 0s\n": -1, "  reauth: 10m\n": 10 * time.Minute} {
		c, err := Parse("c.yaml", []byte(base+yaml))
		if err != nil {
			t.Fatalf("%q: %v", yaml, err)
		}
		if got := c.SigninConfig("https://office.example.com/signin/callback", make([]byte, 32)).Reauth; got != want {
			t.Errorf("%q: signin.Config.Reauth = %s, want %s", yaml, got, want)
		}
	}
}
