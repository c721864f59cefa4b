package portmap

import (
	"errors"

	"github.com/licgate/licgate/portmap/internal/pxp"
)

// Sentinel errors. Errors returned by this package wrap one of these (test
// with errors.Is) together with the detail: which router, which protocol,
// what it answered.
var (
	// ErrNoRouter means no protocol got an answer from the router: none
	// of PCP, NAT-PMP or UPnP is enabled there, or a firewall drops them.
	ErrNoRouter = errors.New("no port-mapping router answered")
	// ErrNoGateway means the gateway address is unknown: no default route
	// (Linux), or Config.Gateway is unset on other systems.
	ErrNoGateway = errors.New("no gateway")
	// ErrNotAuthorized means the router answered but refuses mappings
	// (the protocol is switched off, or a permission rule forbids the port).
	ErrNotAuthorized = pxp.ErrNotAuthorized
	// ErrConflict means the external port is already forwarded to another
	// host on the router.
	ErrConflict = pxp.ErrConflict
	// ErrMalformed means the router's answer could not be understood:
	// truncated, wrong version or opcode, or an unknown result.
	ErrMalformed = pxp.ErrMalformed
	// ErrRouterError means the router answered with an error result code
	// other than the ones above (out of resources, network failure...).
	ErrRouterError = pxp.ErrRouterError
	// ErrUnsupported means the router does not speak this protocol (it
	// answered "unsupported version" or "unsupported opcode").
	ErrUnsupported = pxp.ErrUnsupported
	// ErrNotMapped means the router answered "success" without a usable
	// external address (0.0.0.0: its WAN side is down, or the answer is
	// forged): nothing reachable was mapped.
	ErrNotMapped = errors.New("router gave no external address: not mapped")
	// ErrBadConfig wraps configuration errors.
	ErrBadConfig = errors.New("bad portmap configuration")
)

// IsRefused reports whether err is the router saying no (its rules forbid
// the port or this host, or the port is forwarded elsewhere), as opposed
// to no answer or a broken one. Refusals are retried rarely (see
// Config.RetryMax): asking again does not change the router's rules.
func IsRefused(err error) bool {
	return errors.Is(err, ErrNotAuthorized) || errors.Is(err, ErrConflict)
}
