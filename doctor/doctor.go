// Package doctor checks what usually goes wrong with a licgate
// installation and says what to do: each check a Finding (OK, WARN or
// FAIL) naming the problem and the fix. `licgate doctor` prints them;
// keepalived's health check runs it with --quiet.
//
// Typical usage:
//
//	d := &doctor.Doctor{Ctx: ctx, ConfigPath: "/etc/licgate/licgate.yaml"}
//	d.Run()
//	err := d.Report(os.Stdout, false) // ErrFailed if any check failed
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/buildinfo"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/portmap"
	"github.com/licgate/licgate/transparent"
)

// Levels of a finding.
const (
	levelOK   = "OK"
	levelWarn = "WARN"
	levelFail = "FAIL"
)

// Finding is one check's outcome.
type Finding struct {
	Level, What, Detail string
}

// Doctor runs the checks and collects findings. Set Ctx and ConfigPath
// (and Socket to override the config's); the rest have defaults.
type Doctor struct {
	Ctx        context.Context
	ConfigPath string
	Socket     string
	Findings   []Finding
	// DialTimeout bounds each network check. If zero, 3s.
	DialTimeout time.Duration
	// Now is the clock checked. If nil, time.Now.
	Now func() time.Time
}

func (d *Doctor) add(level, what, format string, args ...any) {
	d.Findings = append(d.Findings, Finding{level, what, fmt.Sprintf(format, args...)})
}

func (d *Doctor) timeout() time.Duration {
	if d.DialTimeout == 0 {
		return 3 * time.Second
	}
	return d.DialTimeout
}

// ErrFailed: at least one check failed (the exit code is non-zero).
var ErrFailed = errors.New("doctor: some checks failed")

// Report prints the findings (only problems with quiet) and returns
// ErrFailed if any check failed.
func (d *Doctor) Report(w io.Writer, quiet bool) error {
	failed := false
	for _, f := range d.Findings {
		if f.Level == levelFail {
			failed = true
		}
		if quiet && f.Level == levelOK {
			continue
		}
		fmt.Fprintf(w, "%-4s  %-20s %s\n", f.Level, f.What, f.Detail)
	}
	if failed {
		return ErrFailed
	}
	return nil
}

// Run runs every check.
func (d *Doctor) Run() {
	cfg, err := config.Load(d.ConfigPath)
	if err != nil {
		d.add(levelFail, "config", "%v", err)
		return
	}
	d.add(levelOK, "config", "%s loads; %d rules", cfg.File(), len(cfg.Engine().Rules()))
	d.clock()
	d.upstreams(cfg)
	d.licenseServers(cfg)
	socket := d.Socket
	if socket == "" {
		socket = os.Getenv("LICGATE_SOCKET")
	}
	if socket == "" {
		socket = cfg.Socket
	}
	c := adminapi.NewClient(socket)
	h, err := c.Health(d.Ctx)
	if err != nil {
		d.add(levelFail, "daemon", "%v", err)
		return
	}
	d.add(levelOK, "daemon", "running; %d devices, %d live sessions", h.Devices, h.Sessions)
	d.wireguardPort(h)
	d.portmap(h)
	d.publicName(cfg, c)
	d.certificates(cfg, c)
	d.denials(c)
	d.handshakes(c)
	d.transparent(cfg)
}

// clock: a clock behind the binary's build is certainly wrong (TLS,
// expiry and time windows depend on it).
func (d *Doctor) clock() {
	now := time.Now()
	if d.Now != nil {
		now = d.Now()
	}
	if bd := buildinfo.Get().Date; bd != "" {
		if t, err := time.Parse(time.RFC3339, bd); err == nil && now.Before(t.Add(-24*time.Hour)) {
			d.add(levelFail, "clock", "the system clock (%s) is before this licgate was built (%s): set the time (NTP)", now.Format(time.DateTime), t.Format(time.DateOnly))
			return
		}
	}
	if now.Year() < 2025 {
		d.add(levelFail, "clock", "the system clock says %s: set the time (NTP)", now.Format(time.DateTime))
		return
	}
	d.add(levelOK, "clock", "%s", now.Format(time.RFC3339))
}

// upstreams connects to each license server; for CodeMeter it also looks
// for one on this machine when the configured one does not answer.
func (d *Doctor) upstreams(cfg *config.Config) {
	for _, s := range cfg.Services {
		if !contains(s.Protocols, "tcp") {
			continue
		}
		what := "upstream " + s.Name
		c, err := net.DialTimeout("tcp", s.Upstream, d.timeout())
		if err == nil {
			c.Close()
			d.add(levelOK, what, "%s answers", s.Upstream)
			continue
		}
		hint := ""
		if s.Port == 22350 && s.Upstream != "127.0.0.1:22350" {
			if c, err := net.DialTimeout("tcp", "127.0.0.1:22350", d.timeout()); err == nil {
				c.Close()
				hint = "; a CodeMeter server answers on 127.0.0.1:22350 (this machine): set services." + s.Name + ".upstream to it?"
			}
		}
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			d.add(levelFail, what, "%s refuses connections: is the license server running, and is %s its port?%s", s.Upstream, portOf(s.Upstream), hint)
		default:
			d.add(levelFail, what, "%s: %v (a firewall, a wrong address, or the server is off)%s", s.Upstream, err, hint)
		}
	}
}

func portOf(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// wireguardPort: the daemon holds its UDP port (binding it here fails).
func (d *Doctor) wireguardPort(h adminapi.Health) {
	pc, err := net.ListenUDP("udp", &net.UDPAddr{Port: h.ListenPort})
	if err == nil {
		pc.Close()
		if h.ListenPort != 0 {
			d.add(levelWarn, "wireguard port", "UDP %d is free on this host: the daemon runs elsewhere (another namespace or machine)?", h.ListenPort)
			return
		}
	}
	d.add(levelOK, "wireguard port", "UDP %d is bound", h.ListenPort)
}

func (d *Doctor) portmap(h adminapi.Health) {
	d.mapping("router port", h.Portmap)
	d.mapping("router port (links)", h.PortmapPublic)
}

func (d *Doctor) mapping(what string, pm *portmap.Status) {
	if pm == nil {
		return
	}
	switch {
	case pm.State == "mapped" && pm.NotPublic:
		d.add(levelWarn, what, "mapped by %s, but the router's external address %s is not public: another NAT is in front of it (forward the port there too)", pm.Protocol, pm.ExternalAddress)
	case pm.State == "mapped":
		d.add(levelOK, what, "%s:%d -> port %d by %s", pm.ExternalAddress, pm.ExternalPort, pm.InternalPort, pm.Protocol)
	case pm.Fix != "": // the router answered; portmap says what to change
		d.add(levelFail, what, "%s: %s (fix: %s)", pm.State, pm.LastError, pm.Fix)
	default:
		d.add(levelFail, what, "%s: %s (enable UPnP or NAT-PMP on the router, or forward port %d by hand)", pm.State, pm.LastError, pm.InternalPort)
	}
}

// publicName: the name home profiles use resolves, at its authoritative
// servers (not a cache), to the address ddns detected.
func (d *Doctor) publicName(cfg *config.Config, c *adminapi.Client) {
	host, _, err := net.SplitHostPort(cfg.Tunnel.Endpoint)
	if err != nil {
		host = cfg.Tunnel.Endpoint
	}
	if _, err := netip.ParseAddr(host); err == nil || host == "" {
		return // an address: nothing to resolve
	}
	var want []netip.Addr
	if v, err := c.DDNS(d.Ctx); err == nil {
		for _, p := range v.Providers {
			if p.Detected.IsValid() {
				want = append(want, p.Detected)
			}
		}
	}
	got, server, err := d.authoritative(host)
	if err != nil {
		d.add(levelWarn, "public name", "%s: %v", host, err)
		return
	}
	if len(got) == 0 {
		d.add(levelFail, "public name", "%s has no address at %s: home devices cannot find the office", host, server)
		return
	}
	for _, w := range want {
		if !containsAddr(got, w) {
			d.add(levelFail, "public name", "%s is %v at %s, but the office's public address is %s: ddns has not updated it (see licgate ddns status)", host, got, server, w)
			return
		}
	}
	d.add(levelOK, "public name", "%s is %v at %s", host, got, server)
}

func containsAddr(s []netip.Addr, a netip.Addr) bool {
	for _, x := range s {
		if x == a {
			return true
		}
	}
	return false
}

// authoritative asks one of host's zone's name servers for its A records.
func (d *Doctor) authoritative(host string) ([]netip.Addr, string, error) {
	zone := dns.Fqdn(host)
	var nss []*net.NS
	for {
		ns, err := net.DefaultResolver.LookupNS(d.Ctx, zone)
		if err == nil && len(ns) > 0 {
			nss = ns
			break
		}
		i := strings.Index(zone, ".")
		if i < 0 || i == len(zone)-1 {
			return nil, "", fmt.Errorf("no name server found for %s", host)
		}
		zone = zone[i+1:]
	}
	cl := &dns.Client{Timeout: d.timeout()}
	var lastErr error
	for _, ns := range nss {
		server := net.JoinHostPort(strings.TrimSuffix(ns.Host, "."), "53")
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(host), dns.TypeA)
		m.RecursionDesired = false
		r, _, err := cl.ExchangeContext(d.Ctx, m, server)
		if err != nil {
			lastErr = err
			continue
		}
		var out []netip.Addr
		for _, rr := range r.Answer {
			if a, ok := rr.(*dns.A); ok && strings.EqualFold(a.Hdr.Name, dns.Fqdn(host)) {
				if ip, ok := netip.AddrFromSlice(a.A.To4()); ok {
					out = append(out, ip)
				}
			}
		}
		return out, server, nil
	}
	return nil, "", fmt.Errorf("name servers of %s did not answer: %v", zone, lastErr)
}

// certificates: the public certificate is valid for a while yet.
func (d *Doctor) certificates(cfg *config.Config, c *adminapi.Client) {
	if cfg.Public.Listen == "" {
		return
	}
	vs, err := c.Certs(d.Ctx)
	if err != nil {
		d.add(levelWarn, "certificate", "%v", err)
		return
	}
	for _, v := range vs {
		if v.Name != cfg.Public.Name {
			continue
		}
		left := time.Until(v.NotAfter)
		switch {
		case left <= 0:
			d.add(levelFail, "certificate", "%s expired on %s", v.Name, v.NotAfter.Format(time.DateOnly))
		case left < 7*24*time.Hour && v.Issuer != "licgate internal CA":
			d.add(levelWarn, "certificate", "%s expires in %s and has not been renewed (see the log for ACME errors)", v.Name, left.Round(time.Hour))
		case v.Issuer == "licgate internal CA" && cfg.Public.ACME.Directory != "off":
			d.add(levelWarn, "certificate", "%s has licgate's internal CA certificate: ACME failed, home users' browsers warn (see the log)", v.Name)
		default:
			d.add(levelOK, "certificate", "%s by %s until %s", v.Name, v.Issuer, v.NotAfter.Format(time.DateOnly))
		}
		return
	}
	d.add(levelWarn, "certificate", "no certificate for %s yet", cfg.Public.Name)
}

// denials: refusals of the last day by class.
func (d *Doctor) denials(c *adminapi.Client) {
	ds, err := c.Denials(d.Ctx, "24h")
	if err != nil {
		d.add(levelWarn, "denials", "%v", err)
		return
	}
	if len(ds) == 0 {
		d.add(levelOK, "denials", "none in the last 24h")
		return
	}
	by := map[string]int{}
	for _, r := range ds {
		by[r.Reason]++
	}
	var parts []string
	for k, n := range by {
		parts = append(parts, strconv.Itoa(n)+"x "+k)
	}
	sort.Strings(parts)
	if len(parts) > 5 {
		parts = append(parts[:5], "...")
	}
	d.add(levelWarn, "denials", "%d in the last 24h: %s (licgate denials)", len(ds), strings.Join(parts, "; "))
}

// handshakes: devices that never completed a WireGuard handshake.
func (d *Doctor) handshakes(c *adminapi.Client) {
	ps, err := c.Peers(d.Ctx)
	if err != nil {
		d.add(levelWarn, "devices", "%v", err)
		return
	}
	var never []string
	for _, p := range ps {
		if p.LastHandshake == nil {
			never = append(never, p.User+"/"+p.Device)
		}
	}
	if len(never) == 0 {
		d.add(levelOK, "devices", "every device has completed a handshake")
		return
	}
	d.add(levelWarn, "devices", "never connected: %s (profile not imported, or the office port is not reachable)", strings.Join(never, ", "))
}

// transparent: replies to tunnel addresses come back (source: tunnel).
func (d *Doctor) transparent(cfg *config.Config) {
	for _, s := range cfg.Services {
		if s.Source != "tunnel" {
			continue
		}
		ctx, cancel := context.WithTimeout(d.Ctx, d.timeout())
		err := transparent.CheckReturnPath(ctx, routing(cfg), netip.Addr{}, s.Upstream)
		cancel()
		if err != nil {
			d.add(levelFail, "return route "+s.Name, "%v", err)
			continue
		}
		d.add(levelOK, "return route "+s.Name, "%s answers connections from the tunnel subnet", s.Upstream)
	}
}

// routing is the transparent routing the gateway sets up for cfg.
func routing(cfg *config.Config) transparent.Routing {
	r := transparent.Routing{Subnet: cfg.SubnetPrefix()}
	if cfg.Tunnel.Mode != "netstack" {
		r.TunnelInterface = cfg.Tunnel.Interface
	}
	return r
}
