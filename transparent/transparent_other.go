//go:build !linux

package transparent

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"time"
)

func dialFrom(context.Context, time.Duration, netip.Addr, string, string) (net.Conn, error) {
	return nil, fmt.Errorf("%w (this is %s)", ErrUnsupported, runtime.GOOS)
}

func localAddrToward(netip.Addr) netip.Addr { return netip.Addr{} }

// Available reports whether this process may use source: tunnel: here
// never, an error wrapping ErrUnsupported.
func Available() error {
	return fmt.Errorf("%w (this is %s)", ErrUnsupported, runtime.GOOS)
}

// Setup returns ErrUnsupported: policy routing for foreign source
// addresses needs Linux.
func Setup(Routing) (teardown func() error, err error) {
	return nil, Available()
}

// Remove returns ErrUnsupported.
func Remove(Routing) error { return Available() }

// CheckReturnPath returns ErrUnsupported.
func CheckReturnPath(context.Context, Routing, netip.Addr, string) error { return Available() }
