package ddnsconfig

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/licgate/licgate/ddns"
	"github.com/licgate/licgate/internal/confval"
)

// New builds the manager a validated block describes: the preset
// sources when none are given, and each provider with its secret read
// from its file.
func TestNewBuildsTheManager(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "tsig.key")
	if err := os.WriteFile(secret, []byte("c2VjcmV0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{Host: "office.example.test", Families: []string{"ipv4", "ipv6"}, Providers: []ProviderConfig{
		{Name: "dns", Type: "rfc2136", Server: "127.0.0.1:53", Zone: "example.test", KeyName: "k", SecretFile: secret},
		{Name: "duck", Type: "duckdns", Token: "t", VerifyServer: "127.0.0.1:53"},
	}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	m, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Detector.Sources) != 3 || len(m.Families) != 2 || m.Families[1] != ddns.IPv6 || m.Interval != c.Interval.Duration {
		t.Errorf("sources %d, families %v, interval %s", len(m.Detector.Sources), m.Families, m.Interval)
	}
	if u, ok := m.Providers[0].Updater.(*ddns.RFC2136); !ok || u.Secret != "c2VjcmV0" {
		t.Errorf("provider 0: %#v, want an RFC2136 with the file's secret", m.Providers[0].Updater)
	}
	if m.Providers[1].Verify == nil {
		t.Error("provider 1: no verifier for verify_server")
	}
	if u, err := c.RFC2136("dns"); err != nil || u.Zone != "example.test" {
		t.Errorf("RFC2136(dns) = %v, %v", u, err)
	}
	if _, err := c.RFC2136("duck"); err == nil {
		t.Error("RFC2136(duck): no error for a provider of another type")
	}
}

// Validate's errors name the key below ddns:, for config to place.
func TestValidateNamesTheKey(t *testing.T) {
	c := Config{Host: "office.example.test", Providers: []ProviderConfig{{Name: "p", Type: "rfc2136", Server: "127.0.0.1:53", Zone: "other.test", KeyName: "k", Secret: "s"}}}
	var fe *confval.FieldError
	if err := c.Validate(); !errors.As(err, &fe) || fe.Key != "providers.0.zone" {
		t.Fatalf("error %v, want a FieldError at providers.0.zone", err)
	}
}
