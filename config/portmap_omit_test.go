//go:build licgate_omit_upnp

package config

import (
	"errors"
	"strings"
	"testing"
)

// In a build without UPnP, portmap.protocols naming upnp is refused with
// the file, line and key; pcp and natpmp load.
func TestOmitUPnPConfig(t *testing.T) {
	base := "tunnel:\n  listen_port: 51820\nportmap:\n  enabled: true\n  protocols: "
	if _, err := Parse("c.yaml", []byte(base+"[pcp, natpmp]\n")); err != nil {
		t.Fatal(err)
	}
	_, err := Parse("c.yaml", []byte(base+"[pcp, upnp]\n"))
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "c.yaml:5: portmap.protocols.1") || !strings.Contains(err.Error(), "licgate_omit_upnp") {
		t.Fatalf("upnp in a build without it: %v", err)
	}
}
