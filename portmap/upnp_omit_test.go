//go:build licgate_omit_upnp

package portmap

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// Without UPnP, asking for it is a configuration error, the default
// protocols leave it out, and the stand-in fails every call.
func TestOmitUPnP(t *testing.T) {
	c := Config{Protocols: []string{PCP, UPnP}, InternalPort: 51820}
	if err := c.Validate(); !errors.Is(err, ErrBadConfig) || !errors.Is(err, ErrUPnPOmitted) {
		t.Fatalf("Validate with upnp: %v", err)
	}
	c.Protocols = nil
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate with the default protocols: %v", err)
	}
	if p := c.protocols(); slices.Contains(p, UPnP) || len(p) != 2 {
		t.Fatalf("default protocols %v", p)
	}
	if _, err := newProtocol(UPnP, target{}).mapPort(context.Background(), 0); !errors.Is(err, ErrUPnPOmitted) {
		t.Fatalf("mapPort: %v", err)
	}
}
