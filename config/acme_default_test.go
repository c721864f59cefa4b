//go:build !licgate_omit_acme

package config

import (
	"testing"

	"github.com/caddyserver/certmagic"
)

// The full build keeps Let's Encrypt as the default ACME directory and
// accepts any other (the router build refuses them: acme_omit_test.go).
func TestFullBuildACMEDefault(t *testing.T) {
	c, err := Parse("c.yaml", []byte("public:\n  listen: ':8443'\n  name: gw.example.test\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Public.ACME.Directory != certmagic.LetsEncryptProductionCA {
		t.Fatalf("default directory %q, want Let's Encrypt", c.Public.ACME.Directory)
	}
	if _, err := Parse("c.yaml", []byte("public:\n  listen: ':8443'\n  name: gw.example.test\n  acme:\n    directory: https://acme.example.test/dir\n")); err != nil {
		t.Fatalf("ACME directory in the full build: %v", err)
	}
}
