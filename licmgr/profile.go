package licmgr

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind is a license manager, as services[].type names it.
type Kind string

// The license managers licgate knows.
const (
	CodeMeter   Kind = "codemeter"
	FlexNet     Kind = "flexnet"
	RLM         Kind = "rlm"
	SentinelLDK Kind = "sentinel-ldk"
	SentinelRMS Kind = "sentinel-rms"
	Generic     Kind = "generic"
)

// Kinds lists every Kind in the order docs and messages name them.
var Kinds = []Kind{CodeMeter, FlexNet, RLM, SentinelLDK, SentinelRMS, Generic}

// ParseKind reads a services[].type value.
func ParseKind(s string) (Kind, error) {
	k := Kind(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(Kinds, k) {
		return k, nil
	}
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return "", fmt.Errorf("%w: %q is not one of %s", ErrKind, s, strings.Join(names, ", "))
}

// Role is what a port does for its manager.
type Role string

// Roles of a manager's ports.
const (
	// RoleLicense carries license checkouts: the seats are held on these
	// connections (CodeMeter 22350, a FlexNet vendor daemon, an RLM ISV
	// server, Sentinel LDK 1947, Sentinel RMS 5093).
	RoleLicense Role = "license"
	// RoleLookup answers "where is the vendor daemon / ISV server?" and
	// status queries: FlexNet lmgrd, RLM's rlm port. Connections are short.
	RoleLookup Role = "lookup"
	// RoleAdmin is the manager's own web administration (RLM 5054,
	// CodeMeter WebAdmin 22352/22353). Not for home users unless asked.
	RoleAdmin Role = "admin"
)

// Port is one port of a manager, as the gateway listens on it. The port
// number is the same on the gateway and on the license server: FlexNet's
// lmgrd and RLM's rlm tell the client the vendor daemon's or ISV server's
// port number, and the client connects to that number at the address it
// already uses (the gateway).
type Port struct {
	// Name says what answers there: "lmgrd", "vendor adskflex", "isv foundry",
	// "license", "webadmin".
	Name string
	// Port is the TCP and/or UDP port number.
	Port int
	// Protocols is "tcp", "udp" or both.
	Protocols []string
	// Role is what the port is for.
	Role Role
	// HoldsSeats: caps count this port's connections. False for lookups,
	// discovery and administration.
	HoldsSeats bool
	// SharesAdmin: the port carries the manager's web administration too
	// (Sentinel LDK's Admin Control Center on 1947): use ClassifyLDK on a
	// TCP connection's first bytes and refuse admin requests unless the
	// service allows admin access.
	SharesAdmin bool
}

// Daemon is a FlexNet vendor daemon or an RLM ISV server with its pinned
// port.
type Daemon struct {
	Name string
	Port int
}

// Options shape a profile's expansion.
type Options struct {
	// Port is the manager's main port: CodeMeter 22350, lmgrd (the SERVER
	// line's port), rlm (the HOST line's port), LDK 1947, RMS 5093. If zero,
	// the manager's default; for FlexNet, zero means lmgrd's whole default
	// range 27000-27009 (lmgrd takes the first free one when the SERVER line
	// has no port). Required for Generic.
	Port int
	// Protocols override the main port's protocols (Generic: if empty, tcp
	// and udp).
	Protocols []string
	// Daemons are FlexNet vendor daemons or RLM ISV servers with their
	// pinned ports. Required (at least one) for FlexNet and RLM.
	Daemons []Daemon
	// Admin adds the manager's web administration ports (RLM 5054,
	// CodeMeter 22352 and 22353) and lets LDK's Admin Control Center
	// through. Off by default: home users manage nothing.
	Admin bool
}

// Errors of Expand, matched with errors.Is.
var (
	ErrKind     = errors.New("licmgr: unknown license manager type")
	ErrUnpinned = errors.New("licmgr: a vendor daemon or ISV server needs a pinned port")
	ErrPort     = errors.New("licmgr: bad port")
)

// Default main ports.
const (
	CodeMeterPort   = 22350
	CmWANPort       = 22351 // CodeMeter licenses over HTTPS; not needed through a tunnel
	WebAdminPort    = 22352 // CodeMeter WebAdmin over HTTP
	WebAdminTLSPort = 22353 // CodeMeter WebAdmin over HTTPS
	LmgrdFirstPort  = 27000 // lmgrd's default range: 27000-27009
	LmgrdLastPort   = 27009
	RLMPort         = 5053
	RLMWebPort      = 5054
	LDKPort         = 1947
	RMSPort         = 5093
)

// ServerHold is how long the license server itself keeps a vanished
// client's allocation when nobody closes its connection: CodeMeter's
// CleanUpTimeOut default (120 s). Zero where no default is documented.
func ServerHold(k Kind) time.Duration {
	if k == CodeMeter {
		return 120 * time.Second
	}
	return 0
}

// Expand lists every port of a manager: all in one service, so one
// policy and one seat pool cover them.
func Expand(k Kind, o Options) ([]Port, error) {
	for _, p := range append([]int{o.Port}, daemonPorts(o.Daemons)...) {
		if p < 0 || p > 65535 {
			return nil, fmt.Errorf("%w: %d is not a port (1-65535)", ErrPort, p)
		}
	}
	for _, pr := range o.Protocols {
		if pr != "tcp" && pr != "udp" {
			return nil, fmt.Errorf("%w: protocol %q is not tcp or udp", ErrPort, pr)
		}
	}
	proto := func(def ...string) []string {
		if len(o.Protocols) > 0 {
			return slices.Clone(o.Protocols)
		}
		return def
	}
	main := func(def int) int {
		if o.Port == 0 {
			return def
		}
		return o.Port
	}
	if len(o.Daemons) > 0 && k != FlexNet && k != RLM {
		return nil, fmt.Errorf("%w: daemons are for flexnet (vendor daemons) and rlm (ISV servers), not %s", ErrPort, k)
	}
	var ports []Port
	switch k {
	case CodeMeter:
		ports = append(ports, Port{Name: "license", Port: main(CodeMeterPort), Protocols: proto("tcp", "udp"), Role: RoleLicense, HoldsSeats: true})
		if o.Admin {
			ports = append(ports,
				Port{Name: "webadmin", Port: WebAdminPort, Protocols: []string{"tcp"}, Role: RoleAdmin},
				Port{Name: "webadmin-https", Port: WebAdminTLSPort, Protocols: []string{"tcp"}, Role: RoleAdmin})
		}
	case FlexNet:
		if len(o.Daemons) == 0 {
			return nil, fmt.Errorf("%w: flexnet needs each vendor daemon's port (the VENDOR line's PORT=); without it lmgrd sends clients to a port the OS picks at random", ErrUnpinned)
		}
		if o.Port == 0 {
			for p := LmgrdFirstPort; p <= LmgrdLastPort; p++ {
				if slices.Contains(daemonPorts(o.Daemons), p) {
					continue // a vendor daemon pinned inside the range: lmgrd skips it too
				}
				ports = append(ports, Port{Name: "lmgrd", Port: p, Protocols: proto("tcp"), Role: RoleLookup})
			}
		} else {
			ports = append(ports, Port{Name: "lmgrd", Port: o.Port, Protocols: proto("tcp"), Role: RoleLookup})
		}
		for _, d := range o.Daemons {
			if d.Port == 0 {
				return nil, fmt.Errorf("%w: vendor daemon %s has no port (add PORT=n to its VENDOR line)", ErrUnpinned, d.Name)
			}
			ports = append(ports, Port{Name: "vendor " + d.Name, Port: d.Port, Protocols: []string{"tcp"}, Role: RoleLicense, HoldsSeats: true})
		}
	case RLM:
		if len(o.Daemons) == 0 {
			return nil, fmt.Errorf("%w: rlm needs each ISV server's port (the ISV line's port=); without it rlm sends clients to a port picked at start", ErrUnpinned)
		}
		ports = append(ports, Port{Name: "rlm", Port: main(RLMPort), Protocols: proto("tcp"), Role: RoleLookup})
		for _, d := range o.Daemons {
			if d.Port == 0 {
				return nil, fmt.Errorf("%w: ISV server %s has no port (add port=n to its ISV line)", ErrUnpinned, d.Name)
			}
			ports = append(ports, Port{Name: "isv " + d.Name, Port: d.Port, Protocols: []string{"tcp"}, Role: RoleLicense, HoldsSeats: true})
		}
		if o.Admin {
			ports = append(ports, Port{Name: "web", Port: RLMWebPort, Protocols: []string{"tcp"}, Role: RoleAdmin})
		}
	case SentinelLDK:
		// TCP carries the License Managers' protocol and the Admin Control
		// Center; UDP is the search (which a client behind WireGuard only
		// uses when the gateway is in its Remote License Search Parameters).
		ports = append(ports, Port{Name: "license", Port: main(LDKPort), Protocols: proto("tcp", "udp"), Role: RoleLicense, HoldsSeats: true, SharesAdmin: !o.Admin})
	case SentinelRMS:
		ports = append(ports, Port{Name: "license", Port: main(RMSPort), Protocols: proto("udp"), Role: RoleLicense, HoldsSeats: true})
	case Generic:
		if o.Port == 0 {
			return nil, fmt.Errorf("%w: a generic service needs its port", ErrPort)
		}
		ports = append(ports, Port{Name: "license", Port: o.Port, Protocols: proto("tcp", "udp"), Role: RoleLicense, HoldsSeats: true})
	default:
		_, err := ParseKind(string(k))
		return nil, err
	}
	if err := checkDistinct(ports); err != nil {
		return nil, err
	}
	return ports, nil
}

func daemonPorts(ds []Daemon) []int {
	out := make([]int, len(ds))
	for i, d := range ds {
		out[i] = d.Port
	}
	return out
}

// checkDistinct refuses two ports of one manager on the same number and
// protocol (a vendor daemon pinned to lmgrd's port, two ISV servers on one).
func checkDistinct(ports []Port) error {
	seen := map[string]string{}
	for _, p := range ports {
		for _, pr := range p.Protocols {
			key := fmt.Sprintf("%s/%d", pr, p.Port)
			if other, dup := seen[key]; dup {
				return fmt.Errorf("%w: %s and %s both on %s", ErrPort, other, p.Name, key)
			}
			seen[key] = p.Name
		}
	}
	return nil
}

// SeatPort reports whether connections to port hold seats, and the Port
// entry that says so (false for a port not in ports).
func SeatPort(ports []Port, port int, proto string) (Port, bool) {
	for _, p := range ports {
		if p.Port == port && slices.Contains(p.Protocols, proto) {
			return p, p.HoldsSeats
		}
	}
	return Port{}, false
}

// UpstreamFor is where the gateway dials for port p of a service whose
// license server is host: the same port number, since the manager tells
// its clients port numbers (lmgrd the vendor daemon's, rlm the ISV
// server's).
func UpstreamFor(host string, p Port) string {
	return net.JoinHostPort(host, strconv.Itoa(p.Port))
}

// StatusCommand is the manager's own status tool and its arguments, for
// "who holds the seats" (ParseLmstat and ParseRlmstat read their output),
// run on a machine where the vendor's tools are installed. ok is false for
// managers without a documented text status licgate reads (CodeMeter's
// `cmu -n` and WebAdmin, Sentinel's ACC and `lsmon` are not parsed yet).
func StatusCommand(k Kind, port int, host string) (name string, args []string, ok bool) {
	at := strconv.Itoa(port) + "@" + host
	switch k {
	case FlexNet:
		return "lmutil", []string{"lmstat", "-a", "-c", at}, true
	case RLM:
		return "rlmutil", []string{"rlmstat", "-a", "-c", at}, true
	}
	return "", nil, false
}
