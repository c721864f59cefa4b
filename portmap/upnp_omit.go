//go:build licgate_omit_upnp

package portmap

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// UPnPBuilt reports whether this build speaks UPnP IGD: not in builds
// made with licgate_omit_upnp (the router build), which leave out goupnp.
// PCP and NAT-PMP remain; Config.Validate refuses "upnp" in Protocols,
// and the default protocols leave it out.
const UPnPBuilt = false

// newUPnP returns a protocol whose every call fails with ErrUPnPOmitted
// (Validate keeps it from being configured).
func newUPnP(target) protocol { return upnpOmitted{} }

type upnpOmitted struct{}

func (upnpOmitted) name() string { return "upnp" }
func (upnpOmitted) mapPort(context.Context, time.Duration) (mapResult, error) {
	return mapResult{}, fmt.Errorf("portmap: %w", ErrUPnPOmitted)
}
func (upnpOmitted) check(context.Context, time.Duration) (mapResult, bool, bool, error) {
	return mapResult{}, false, false, fmt.Errorf("portmap: %w", ErrUPnPOmitted)
}
func (upnpOmitted) unmap(context.Context) error { return fmt.Errorf("portmap: %w", ErrUPnPOmitted) }
func (upnpOmitted) externalAddr(context.Context) (netip.Addr, error) {
	return netip.Addr{}, fmt.Errorf("portmap: %w", ErrUPnPOmitted)
}
