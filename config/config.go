package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/licgate/licgate/service"

	"go.yaml.in/yaml/v3"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/ddns/ddnsconfig"
	"github.com/licgate/licgate/internal/boundedfile"
	"github.com/licgate/licgate/internal/confval"
	"github.com/licgate/licgate/licmgr"
)

// Config is licgate.yaml. Zero values mean the documented defaults; Load
// fills them in and validates.
type Config struct {
	// StateDir holds the database, the WireGuard key and the API socket.
	// If empty, the platform's: /var/lib/licgate, %ProgramData%\licgate,
	// /Library/Application Support/licgate, /var/db/licgate (FreeBSD),
	// /etc/licgate/state (OpenWrt).
	StateDir string `yaml:"state_dir"`
	// LogLevel is debug, info, warn or error. If empty, info.
	LogLevel string `yaml:"log_level"`
	// Socket is the admin API's unix socket. If empty, <state_dir>/licgate.sock.
	Socket string `yaml:"socket"`
	// Tunnel is the WireGuard side.
	Tunnel TunnelConfig `yaml:"tunnel"`
	// Services are the license ports proxied. If empty, codemeter
	// (TCP and UDP 22350) to 127.0.0.1:22350.
	Services []ServiceConfig `yaml:"services"`
	// Policy is the License Access Permissions policy (see package acl),
	// inline. If neither it nor PolicyFile is set, every connection is
	// denied (default deny) and licgate warns at start.
	Policy yaml.Node `yaml:"policy"`
	// PolicyFile names a separate policy file, relative to this file.
	PolicyFile string `yaml:"policy_file"`
	// Enforcement tunes live enforcement.
	Enforcement EnforcementConfig `yaml:"enforcement"`
	// Audit configures the audit log.
	Audit AuditConfig `yaml:"audit"`
	// DDNS keeps the office's public name current.
	DDNS ddnsconfig.Config `yaml:"ddns"`
	// Public is the internet-facing listener (enrolment links only).
	Public PublicConfig `yaml:"public"`
	// Admin says who may use the admin API and console over the network.
	Admin AdminConfig `yaml:"admin"`
	// Portmap opens the WireGuard port on the office router (off by default).
	Portmap PortmapConfig `yaml:"portmap"`
	// SMTP sends enrolment links by e-mail (licgate invite).
	SMTP SMTPConfig `yaml:"smtp"`
	// Directory syncs users and groups from LDAP / Active Directory.
	Directory DirectoryConfig `yaml:"directory"`
	// Store: SQLite in state_dir (default) or a shared PostgreSQL.
	Store StoreConfig `yaml:"store"`
	// Cluster: several gateways on one PostgreSQL (needs store.driver: postgres).
	Cluster ClusterConfig `yaml:"cluster"`
	// Signin: the office's accounts (OpenID Connect).
	Signin SigninConfig `yaml:"signin"`
	// MemoryLimit is a soft limit on the memory licgate's runtime uses,
	// like GOMEMLIMIT ("200MiB", "1GiB"; at least 32MiB): garbage is
	// collected sooner as it nears the limit, which keeps resident memory
	// down on a small router. If empty, GOMEMLIMIT or no limit.
	MemoryLimit confval.Size `yaml:"memory_limit"`

	file      string     // where it was loaded from, for messages
	path      string     // the file to re-read on reload; empty if none
	root      *yaml.Node // the parsed document, for line numbers
	data      []byte     // the document, for the line of a byte YAML refused
	engine    *acl.Engine
	parsed    *acl.Policy // the parsed policy (directory groups merge into a copy)
	policySrc acl.Source  // the policy's text, as shared with a cluster
	warns     []string
}

// EnforcementConfig tunes how live sessions are re-checked.
type EnforcementConfig struct {
	// VanishedAfter: a device not heard from (no handshake, no packet) for
	// this long has its sessions closed, so the license returns to the
	// pool. If empty, 3m.
	VanishedAfter confval.Duration `yaml:"vanished_after"`
	// WindowGrace lets sessions run on this long after their time window
	// closed. If empty, 0 (cut at once).
	WindowGrace confval.Duration `yaml:"window_grace"`
	// Interval between re-evaluations of live sessions (time windows,
	// expiry) and peer checks. If empty, 15s.
	Interval confval.Duration `yaml:"interval"`
}

// AuditConfig configures the audit log in the state store.
type AuditConfig struct {
	// Retention: records older than this are deleted. If empty, 400 days.
	Retention confval.Duration `yaml:"retention"`
}

// TunnelConfig is the WireGuard endpoint.
type TunnelConfig struct {
	// Mode is netstack (userspace, no privileges), tun or kernel. If empty, netstack.
	Mode string `yaml:"mode"`
	// ListenPort is WireGuard's UDP port. If nil, 51820; 0 picks a free port.
	ListenPort *int `yaml:"listen_port"`
	// Subnet is the tunnel address space. If empty, 10.44.0.0/24.
	Subnet string `yaml:"subnet"`
	// Address is the gateway's tunnel address. If empty, the subnet's first host.
	Address string `yaml:"address"`
	// Endpoint is the public name (or address), optionally with :port, that
	// home profiles point at. If empty, the machine's hostname.
	Endpoint string `yaml:"endpoint"`
	// Keepalive is the PersistentKeepalive written into home profiles:
	// how often an idle device still sends a packet, which keeps its
	// router's NAT mapping open and tells licgate it is there. Whole
	// seconds, at most 1h. If empty, 25s.
	Keepalive confval.Duration `yaml:"keepalive"`
	// MTU of the tunnel. If zero, 1420.
	MTU int `yaml:"mtu"`
	// Interface is the network interface in tun mode (created; if empty,
	// lg0) and kernel mode (an existing WireGuard interface; required).
	Interface string `yaml:"interface"`
	// PrivateKeyFile holds the gateway's key. If empty,
	// <state_dir>/wireguard.key, generated on first start (0600).
	PrivateKeyFile string `yaml:"private_key_file"`
	// AckDelay (netstack mode): how long the gateway may hold back a bare
	// TCP acknowledgment so that it rides on the license server's answer
	// instead of costing a packet through the tunnel of its own. If empty,
	// 1ms; 0 acknowledges every segment at once. At most 50ms.
	AckDelay confval.Duration `yaml:"ack_delay"`
	// Forward (tun mode only): licgate decides each new connection on its
	// first packet (policy, caps, sign-in, audit as ever) and the host's
	// kernel forwards the connection to the license server itself, with
	// no proxy in the data path; cuts reset both ends (package flowgate,
	// docs/forward.md). The license server sees each device's tunnel
	// address (services' source: tunnel; the LAN needs a route back) or,
	// with source: gateway, the gateway's address (licgate masquerades
	// with nftables). If false, the proxy carries every connection.
	Forward bool `yaml:"forward"`
	// AddressQuarantine keeps a revoked device's tunnel address from new
	// devices this long (the license server may know a device by it),
	// unless the subnet has no other free address. If empty, 720h (30
	// days); 0 reuses addresses at once.
	AddressQuarantine confval.Duration `yaml:"address_quarantine"`
}

// ServiceConfig is one license port.
type ServiceConfig struct {
	// Name, e.g. codemeter. Lowercase letters, digits and '-'.
	Name string `yaml:"name"`
	// Port listened on at the gateway's tunnel address.
	Port int `yaml:"port"`
	// Protocols: tcp, udp or both. If empty, both.
	Protocols []string `yaml:"protocols"`
	// Upstream is the license server, host:port. If the port is omitted,
	// Port is used.
	Upstream string `yaml:"upstream"`
	// UDPIdleTimeout ends a UDP mapping after this much silence. If empty, 60s.
	UDPIdleTimeout confval.Duration `yaml:"udp_idle_timeout"`
	// DialTimeout bounds connecting upstream. If empty, 5s.
	DialTimeout confval.Duration `yaml:"dial_timeout"`
	// HalfCloseTimeout ends a session this long after one side closed
	// while the other stays silent. If empty, 60s.
	HalfCloseTimeout confval.Duration `yaml:"half_close_timeout"`
	// UDPMappingsPerDevice bounds one device's UDP mappings (one per
	// source port). If zero, 64.
	UDPMappingsPerDevice int `yaml:"udp_mappings_per_device"`
	// UDPMappings bounds the service's UDP mappings in all. If zero, 1024.
	UDPMappings int `yaml:"udp_mappings"`
	// Source is the address the license server sees: "gateway" (the
	// gateway's own LAN address; the default) or "tunnel" (each device's
	// tunnel address, so the server's own per-client rules and monitoring
	// work; Linux only, needs CAP_NET_ADMIN and a route on the LAN for the
	// tunnel subnet via the gateway: see docs/transparent.md).
	Source string `yaml:"source"`
	// Settings: the license manager's type, daemons, license_file and
	// admin_ports, owned by package licmgr (see docs/license-servers.md).
	licmgr.Settings `yaml:",inline"`
}

// Resolved values, filled in by validate.
func (t TunnelConfig) port() int {
	if t.ListenPort == nil {
		return 51820
	}
	return *t.ListenPort
}

// ErrConfig marks every configuration error; match with errors.Is.
var ErrConfig = errors.New("config")

// Default is the configuration used when no file exists.
func Default() *Config {
	c := &Config{file: "(defaults)"}
	if err := c.validate(); err != nil {
		panic(err) // the defaults are valid by construction; tests hold that
	}
	return c
}

// Load reads path. A missing file yields the defaults (first start);
// Reload is stricter.
func Load(path string) (*Config, error) {
	data, err := boundedfile.Read(path, boundedfile.Config)
	if errors.Is(err, os.ErrNotExist) {
		c := Default()
		c.file = path + " (missing: defaults)"
		c.path = path
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	c, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	c.path = path
	return c, nil
}

var lineRE = regexp.MustCompile(`line (\d+): `)

// Parse parses and validates a config document. name is used in
// messages ("licgate.yaml:12: ...").
func Parse(name string, data []byte) (*Config, error) {
	c := &Config{file: name, data: data}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, c.yamlErr(err)
	}
	c.root = &root
	if len(bytes.TrimSpace(data)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			return nil, c.yamlErr(err)
		}
		// A second document is almost certainly a mistake.
		var extra yaml.Node
		if err := dec.Decode(&extra); err == nil {
			return nil, fmt.Errorf("%w: %s:%d: a second YAML document; licgate reads one", ErrConfig, name, extra.Line)
		}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// yamlErr rewrites yaml's "line N: msg" into "file:N: key: msg" (one per
// line), naming the key in the user's terms rather than Go's types.
func (c *Config) yamlErr(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, e := range te.Errors {
			msgs[i] = c.lineMsg(e)
		}
		return fmt.Errorf("%w: %s", ErrConfig, strings.Join(msgs, "\n"))
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := lineRE.FindStringSubmatchIndex(msg); m != nil && m[0] == 0 {
		return fmt.Errorf("%w: %s", ErrConfig, c.lineMsg(msg))
	}
	if strings.Contains(msg, "invalid leading UTF-8") || strings.Contains(msg, "invalid trailing UTF-8") || strings.Contains(msg, "invalid Unicode") {
		return fmt.Errorf("%w: %s:%d: %s (the file must be UTF-8 text)", ErrConfig, c.file, firstBadLine(c.data), msg)
	}
	return fmt.Errorf("%w: %s:%d: %s", ErrConfig, c.file, firstBadLine(c.data), msg)
}

var (
	unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	goTypeRE       = regexp.MustCompile(`into [\w.\[\]*]+$`)
)

// lineMsg turns one of yaml's "line N: msg" into "file:N: key: msg".
func (c *Config) lineMsg(e string) string {
	m := lineRE.FindStringSubmatch(e)
	if m == nil {
		return c.file + ":" + strconv.Itoa(firstBadLine(c.data)) + ": " + e
	}
	line, _ := strconv.Atoi(m[1])
	msg := strings.TrimPrefix(e, m[0])
	key := c.keyAt(line)
	if f := unknownFieldRE.FindStringSubmatch(msg); f != nil {
		if key == "" {
			key = f[1]
		}
		msg = "unknown key (check its spelling and indentation)"
	}
	msg = goTypeRE.ReplaceAllStringFunc(msg, func(string) string { return "here" })
	if key != "" {
		msg = key + ": " + msg
	}
	return c.file + ":" + m[1] + ": " + msg
}

// firstBadLine is the line of the first byte that is not UTF-8 text or is
// a control character YAML refuses; 1 if there is none.
func firstBadLine(data []byte) int {
	line := 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 || r < 0x20 && r != '\n' && r != '\r' && r != '\t' || r == 0x7f {
			return line
		}
		if r == '\n' {
			line++
		}
		i += size
	}
	return 1
}

// keyAt is the dotted path of the key (or list item) whose value is on
// line, or "" when none is: the name a person looks for in the file.
func (c *Config) keyAt(line int) string {
	if c.root == nil || len(c.root.Content) == 0 {
		return ""
	}
	best := ""
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				if k.Line == line || v.Line == line {
					best = p
				}
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, v := range n.Content {
				p := path + "." + strconv.Itoa(i)
				if v.Line == line && best == "" {
					best = p
				}
				walk(v, p)
			}
		}
	}
	walk(c.root.Content[0], "")
	return best
}

// at formats an error at the YAML node found by path (map keys and list
// indexes), falling back to the nearest existing parent.
func (c *Config) at(path string, format string, args ...any) error {
	line := c.lineOf(path)
	where := c.file
	if line > 0 {
		where += ":" + strconv.Itoa(line)
	}
	return fmt.Errorf("%w: %s: %s: %s", ErrConfig, where, path, fmt.Sprintf(format, args...))
}

// blockErr is at for an error of a block that validates itself: a
// *confval.FieldError names the key below block; any other error the block.
func (c *Config) blockErr(block string, err error) error {
	var fe *confval.FieldError
	if errors.As(err, &fe) {
		if fe.Key != "" {
			block += "." + fe.Key
		}
		return c.at(block, "%s", fe.Msg)
	}
	return c.at(block, "%v", err)
}

// resolve makes a file name relative to the config file's directory
// absolute (an empty name stays empty).
func (c *Config) resolve(name *string) {
	if *name != "" && !filepath.IsAbs(*name) {
		*name = filepath.Join(filepath.Dir(c.file), *name)
	}
}

func (c *Config) lineOf(path string) int {
	if c.root == nil || len(c.root.Content) == 0 {
		return 0
	}
	n := c.root.Content[0]
	line := n.Line
	for _, part := range strings.Split(path, ".") {
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					next = n.Content[i+1]
					line = n.Content[i].Line
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(part); err == nil && i < len(n.Content) {
				next = n.Content[i]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
		if n.Kind != yaml.MappingNode && n.Kind != yaml.SequenceNode {
			line = n.Line
		}
	}
	return line
}

var serviceNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// validate fills in defaults and checks every value, naming file:line.
func (c *Config) validate() error {
	if c.StateDir == "" {
		c.StateDir = service.Paths().StateDir
	}
	if c.Socket == "" {
		c.Socket = filepath.Join(c.StateDir, "licgate.sock")
	}
	if c.MemoryLimit != 0 && c.MemoryLimit < 32<<20 {
		return c.at("memory_limit", "%s is below 32MiB: licgate would spend its time collecting garbage", c.MemoryLimit)
	}
	switch c.LogLevel {
	case "":
		c.LogLevel = "info"
	case "debug", "info", "warn", "error":
	default:
		return c.at("log_level", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	t := &c.Tunnel
	switch t.Mode {
	case "":
		t.Mode = "netstack"
	case "netstack", "tun", "kernel":
	default:
		return c.at("tunnel.mode", "%q is not one of netstack, tun, kernel", t.Mode)
	}
	switch {
	case t.Mode == "tun" && t.Interface == "":
		t.Interface = "lg0"
	case t.Mode == "kernel" && t.Interface == "":
		return c.at("tunnel.interface", "kernel mode needs the name of an existing WireGuard interface (e.g. wg0)")
	case t.Mode == "netstack" && t.Interface != "":
		return c.at("tunnel.interface", "netstack mode uses no interface; remove the key or set tunnel.mode: tun or kernel")
	}
	if t.Forward && t.Mode != "tun" {
		return c.at("tunnel.forward", "forwarding needs tunnel.mode: tun (got %s)", t.Mode)
	}
	if len(t.Interface) > 15 || strings.ContainsAny(t.Interface, " /") {
		return c.at("tunnel.interface", "%q is not an interface name (at most 15 characters)", t.Interface)
	}
	if p := t.port(); p < 0 || p > 65535 {
		return c.at("tunnel.listen_port", "%d is not a UDP port (0-65535)", p)
	}
	if t.Subnet == "" {
		t.Subnet = "10.44.0.0/24"
	}
	subnet, err := netip.ParsePrefix(t.Subnet)
	if err != nil {
		return c.at("tunnel.subnet", "%q is not a CIDR prefix (like 10.44.0.0/24)", t.Subnet)
	}
	if subnet != subnet.Masked() {
		return c.at("tunnel.subnet", "%s has host bits set; did you mean %s?", subnet, subnet.Masked())
	}
	if subnet.Addr().Is4() && subnet.Bits() > 29 || subnet.Addr().Is6() && subnet.Bits() > 125 {
		return c.at("tunnel.subnet", "%s is too small for a gateway and devices", subnet)
	}
	if t.Address == "" {
		t.Address = subnet.Addr().Next().String()
	}
	addr, err := netip.ParseAddr(t.Address)
	if err != nil {
		return c.at("tunnel.address", "%q is not an IP address", t.Address)
	}
	if !subnet.Contains(addr) || addr == subnet.Addr() {
		return c.at("tunnel.address", "%s is not a host address in tunnel.subnet %s", addr, subnet)
	}
	if err := c.validateDDNS(); err != nil {
		return err
	}
	if t.Endpoint == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		t.Endpoint = h
	}
	if strings.ContainsAny(t.Endpoint, " /\t") {
		return c.at("tunnel.endpoint", "%q is not a host name or address", t.Endpoint)
	}
	if err := confval.Positive(&t.Keepalive, 25*time.Second); err != nil {
		return c.at("tunnel.keepalive", "%v", err)
	}
	if t.Keepalive.Duration%time.Second != 0 || t.Keepalive.Duration > time.Hour {
		return c.at("tunnel.keepalive", "%s: WireGuard takes whole seconds, at most 1h", t.Keepalive.Duration)
	}
	if t.MTU != 0 && (t.MTU < 1280 || t.MTU > 9000) {
		return c.at("tunnel.mtu", "%d is outside 1280-9000", t.MTU)
	}
	if t.PrivateKeyFile == "" {
		t.PrivateKeyFile = filepath.Join(c.StateDir, "wireguard.key")
	}
	if !t.AckDelay.IsSet() {
		t.AckDelay = confval.Dur(time.Millisecond)
	}
	if t.AckDelay.Duration > 50*time.Millisecond {
		return c.at("tunnel.ack_delay", "%s is more than 50ms: clients would wait on acknowledgments", t.AckDelay.Duration)
	}
	t.AddressQuarantine = confval.Dur(t.AddressQuarantine.Or(720 * time.Hour))
	if len(c.Services) == 0 {
		c.Services = []ServiceConfig{{Name: "codemeter", Port: 22350, Upstream: "127.0.0.1:22350"}}
	}
	names := map[string]int{}
	ports := map[string]int{}
	for i := range c.Services {
		s := &c.Services[i]
		p := "services." + strconv.Itoa(i)
		if !serviceNameRE.MatchString(s.Name) {
			return c.at(p+".name", "%q: a service name is lowercase letters, digits and '-', starting with a letter", s.Name)
		}
		if j, dup := names[s.Name]; dup {
			return c.at(p+".name", "service %q is already defined as services.%d", s.Name, j)
		}
		names[s.Name] = i
		if err := c.applyServiceType(i); err != nil {
			return err
		}
		if s.Port < 1 || s.Port > 65535 {
			return c.at(p+".port", "%d is not a port (1-65535)", s.Port)
		}
		if len(s.Protocols) == 0 {
			s.Protocols = []string{"tcp", "udp"}
		}
		seen := map[string]bool{}
		for k, proto := range s.Protocols {
			if proto != "tcp" && proto != "udp" {
				return c.at(p+".protocols."+strconv.Itoa(k), "%q is not tcp or udp", proto)
			}
			if seen[proto] {
				return c.at(p+".protocols."+strconv.Itoa(k), "%s listed twice", proto)
			}
			seen[proto] = true
			key := proto + "/" + strconv.Itoa(s.Port)
			if j, dup := ports[key]; dup {
				return c.at(p+".port", "%s port %d is already used by services.%d (%s)", proto, s.Port, j, c.Services[j].Name)
			}
			ports[key] = i
		}
		if s.Upstream == "" {
			return c.at(p+".upstream", "missing: the license server's address (host:port)")
		}
		if _, _, err := net.SplitHostPort(s.Upstream); err != nil {
			s.Upstream = net.JoinHostPort(s.Upstream, strconv.Itoa(s.Port))
		}
		host, port, err := net.SplitHostPort(s.Upstream)
		if err != nil || host == "" {
			return c.at(p+".upstream", "%q is not host:port", s.Upstream)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return c.at(p+".upstream", "%q has a bad port", s.Upstream)
		}
		if ua, err := netip.ParseAddr(host); err == nil && subnet.Contains(ua) {
			return c.at(p+".upstream", "%s is inside tunnel.subnet %s: the license server must be on the LAN, not in the tunnel", ua, subnet)
		}
		if err := confval.Positive(&s.UDPIdleTimeout, 60*time.Second); err != nil {
			return c.at(p+".udp_idle_timeout", "%v", err)
		}
		if err := confval.Positive(&s.DialTimeout, 5*time.Second); err != nil {
			return c.at(p+".dial_timeout", "%v", err)
		}
		if err := confval.Positive(&s.HalfCloseTimeout, 60*time.Second); err != nil {
			return c.at(p+".half_close_timeout", "%v", err)
		}
		switch s.Source {
		case "":
			s.Source = "gateway"
		case "gateway":
		case "tunnel":
			if runtime.GOOS != "linux" {
				return c.at(p+".source", "tunnel source addresses need Linux (IP_TRANSPARENT); on %s use source: gateway", runtime.GOOS)
			}
			if ua, err := netip.ParseAddr(host); err == nil && (ua.IsLoopback() || ua.IsUnspecified()) {
				return c.at(p+".source", "source: tunnel needs the license server on another machine (upstream %s is this host)", s.Upstream)
			}
		default:
			return c.at(p+".source", "%q is not gateway or tunnel", s.Source)
		}
		if s.UDPMappingsPerDevice < 0 || s.UDPMappingsPerDevice > 65535 {
			return c.at(p+".udp_mappings_per_device", "%d is outside 0-65535", s.UDPMappingsPerDevice)
		}
		if s.UDPMappings < 0 || s.UDPMappings > 1<<20 {
			return c.at(p+".udp_mappings", "%d is outside 0-1048576", s.UDPMappings)
		}
	}
	if err := c.finishServiceTypes(); err != nil {
		return err
	}
	e := &c.Enforcement
	if err := confval.Positive(&e.VanishedAfter, 3*time.Minute); err != nil {
		return c.at("enforcement.vanished_after", "%v", err)
	}
	if e.VanishedAfter.Duration < 2*t.Keepalive.Duration {
		return c.at("enforcement.vanished_after", "%s is less than twice tunnel.keepalive (%s): an idle but connected device would lose its seat after one late keepalive; use at least %s",
			e.VanishedAfter.Duration, t.Keepalive.Duration, 2*t.Keepalive.Duration)
	}
	if !e.WindowGrace.IsSet() {
		e.WindowGrace = confval.Dur(0)
	}
	if err := confval.Positive(&e.Interval, 15*time.Second); err != nil {
		return c.at("enforcement.interval", "%v", err)
	}
	if err := confval.Positive(&c.Audit.Retention, 400*24*time.Hour); err != nil {
		return c.at("audit.retention", "%v", err)
	}
	if err := c.validatePublic(); err != nil {
		return err
	}
	if err := c.validateAdmin(); err != nil {
		return err
	}
	if err := c.validatePortmap(); err != nil {
		return err
	}
	if err := c.validateSMTP(); err != nil {
		return err
	}
	if err := c.validateDirectory(); err != nil {
		return err
	}
	if err := c.validateStore(); err != nil {
		return err
	}
	if err := c.validateCluster(); err != nil {
		return err
	}
	if err := c.validateSignin(); err != nil {
		return err
	}
	return c.compilePolicy()
}

// compilePolicy parses and compiles the inline policy or policy_file.
func (c *Config) compilePolicy() error {
	var pol *acl.Policy
	var err error
	switch {
	case c.PolicyFile != "" && c.Policy.Kind != 0:
		return c.at("policy_file", "set either policy or policy_file, not both")
	case c.PolicyFile != "":
		path := c.PolicyFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(c.file), path)
		}
		data, rerr := boundedfile.Read(path, maxPolicyFile)
		if rerr != nil {
			return c.at("policy_file", "%v", rerr)
		}
		c.policySrc = acl.Source{Name: path, Text: data}
		pol, err = acl.Parse(path, data)
	case c.Policy.Kind != 0:
		pol, err = acl.ParseNode(c.file, &c.Policy)
		if err == nil {
			c.policySrc, err = inlineSource(c.file, &c.Policy)
		}
	default:
		pol = &acl.Policy{File: c.file}
		c.warns = append(c.warns, warnNoPolicy)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return c.usePolicy(pol)
}

// usePolicy compiles pol and puts it in c.
func (c *Config) usePolicy(pol *acl.Policy) error {
	names := make([]string, len(c.Services))
	for i, s := range c.Services {
		names[i] = s.Name
	}
	if c.Directory.URL != "" {
		if added := directoryPlaceholders(pol); len(added) > 0 {
			c.warns = append(c.warns, fmt.Sprintf("groups %v come from the directory (empty until its first sync)", added))
		}
	}
	c.parsed = pol
	eng, warns, err := acl.Compile(pol, names)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	for _, w := range warns {
		c.warns = append(c.warns, fmt.Sprintf("%s:%d: %s", pol.File, w.Line, w.Message))
	}
	c.engine = eng
	return nil
}

// Engine is the compiled policy.
func (c *Config) Engine() *acl.Engine { return c.engine }

// Warnings are problems that did not stop the config from loading.
func (c *Config) Warnings() []string { return c.warns }

// maxPolicyFile bounds a policy file: a real one is a few kilobytes.
const maxPolicyFile = boundedfile.Config

// SubnetPrefix is the parsed tunnel subnet.
func (c *Config) SubnetPrefix() netip.Prefix { return netip.MustParsePrefix(c.Tunnel.Subnet) }

// GatewayAddr is the parsed gateway tunnel address.
func (c *Config) GatewayAddr() netip.Addr { return netip.MustParseAddr(c.Tunnel.Address) }

// ListenPort is the resolved WireGuard port.
func (c *Config) ListenPort() int { return c.Tunnel.port() }

// Path is the file a reload re-reads; empty for a config parsed from memory.
func (c *Config) Path() string { return c.path }

// File is where the config came from.
func (c *Config) File() string { return c.file }

// SlogLevel is the parsed log level.
func (c *Config) SlogLevel() slog.Level {
	var l slog.Level
	l.UnmarshalText([]byte(c.LogLevel))
	return l
}
