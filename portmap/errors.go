package portmap

import "errors"

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
	ErrNotAuthorized = errors.New("router refused the mapping")
	// ErrConflict means the external port is already forwarded to another
	// host on the router.
	ErrConflict = errors.New("external port is taken")
	// ErrMalformed means the router's answer could not be understood:
	// truncated, wrong version or opcode, or an unknown result.
	ErrMalformed = errors.New("malformed router answer")
	// ErrRouterError means the router answered with an error result code
	// other than the ones above (out of resources, network failure...).
	ErrRouterError = errors.New("router error")
	// ErrUnsupported means the router does not speak this protocol (it
	// answered "unsupported version" or "unsupported opcode").
	ErrUnsupported = errors.New("protocol not supported by the router")
	// ErrBadConfig wraps configuration errors.
	ErrBadConfig = errors.New("bad portmap configuration")
)
