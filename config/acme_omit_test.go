//go:build licgate_omit_acme

package config

import (
	"errors"
	"strings"
	"testing"
)

// In a build without ACME a public listener defaults to the internal CA,
// and an ACME directory in the config is an error naming the key and line.
func TestOmitACMEConfig(t *testing.T) {
	c, err := Parse("c.yaml", []byte("public:\n  listen: ':8443'\n  name: gw.example.test\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Public.ACME.Directory != "off" {
		t.Fatalf("default directory %q, want off", c.Public.ACME.Directory)
	}
	_, err = Parse("c.yaml", []byte("public:\n  listen: ':8443'\n  name: gw.example.test\n  acme:\n    directory: https://acme.example.test/dir\n"))
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "c.yaml:5: public.acme.directory") || !strings.Contains(err.Error(), "licgate_omit_acme") {
		t.Fatalf("ACME directory in a build without ACME: %v", err)
	}
}
