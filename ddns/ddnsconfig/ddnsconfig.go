// Package ddnsconfig is the ddns: block of licgate.yaml, owned by the ddns
// feature: Config with its YAML keys and documented defaults, Validate
// (errors name the key, for config to turn into file:line), and New,
// which builds the ddns.Manager the block describes.
package ddnsconfig

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/licgate/licgate/ddns"
	"github.com/licgate/licgate/internal/boundedfile"
	"github.com/licgate/licgate/internal/confval"
)

// Config is the ddns: block of licgate.yaml: it keeps the office's name
// on its public address. Validate fills in the defaults; New builds the
// Manager.
type Config struct {
	// Host is the name to keep current, e.g. office.example.com. Empty
	// disables DDNS. Profiles use it as their Endpoint when
	// tunnel.endpoint is empty.
	Host string `yaml:"host"`
	// Families: ipv4, ipv6 or both. If empty, ipv4.
	Families []string `yaml:"families"`
	// Interval between checks. If empty, 60s (with jitter).
	Interval confval.Duration `yaml:"interval"`
	// Quorum: sources that must agree. If zero, 2 (or 1 with one source).
	Quorum int `yaml:"quorum"`
	// Sources of the public address. If empty: opendns, google, cloudflare.
	Sources []SourceConfig `yaml:"sources"`
	// Providers to update. At least one when host is set.
	Providers []ProviderConfig `yaml:"providers"`
}

// SourceConfig is one address source. Type opendns, google and
// cloudflare are presets whose servers may be overridden.
type SourceConfig struct {
	Type       string   `yaml:"type"` // opendns, google, cloudflare, dns, http, interface
	Name       string   `yaml:"name"`
	Server4    string   `yaml:"server4"`
	Server6    string   `yaml:"server6"`
	QName      string   `yaml:"qname"`
	TXT        bool     `yaml:"txt"`
	Class      string   `yaml:"class"` // IN (default) or CH
	URL4       string   `yaml:"url4"`
	URL6       string   `yaml:"url6"`
	Interfaces []string `yaml:"interfaces"`
}

// ProviderConfig is one updater. File names (secret_file, password_file,
// token_file) are absolute by the time New reads them: config resolves
// them against the config file's directory.
type ProviderConfig struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"` // rfc2136, dyndns2, duckdns, cloudflare
	// rfc2136
	Server     string           `yaml:"server"`
	Zone       string           `yaml:"zone"`
	KeyName    string           `yaml:"key_name"`
	Secret     string           `yaml:"secret"`
	SecretFile string           `yaml:"secret_file"`
	Algorithm  string           `yaml:"algorithm"`
	TTL        confval.Duration `yaml:"ttl"`
	// dyndns2, duckdns, cloudflare
	URL          string `yaml:"url"`
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	Token        string `yaml:"token"`
	TokenFile    string `yaml:"token_file"`
	// VerifyServer is the name's authoritative server (host:port), asked
	// directly before each update: if it already holds the address,
	// nothing is sent. rfc2136 always verifies at its own server.
	VerifyServer string `yaml:"verify_server"`
}

// Validate fills in the defaults and checks every value. Its errors are
// *confval.FieldError naming the key below ddns:.
func (d *Config) Validate() error {
	if d.Host == "" {
		if len(d.Providers) > 0 || len(d.Sources) > 0 {
			return confval.Errorf("host", "missing: the name to keep current (providers are configured)")
		}
		return nil
	}
	if _, ok := dns.IsDomainName(d.Host); !ok || !strings.Contains(d.Host, ".") {
		return confval.Errorf("host", "%q is not a fully qualified host name", d.Host)
	}
	if len(d.Families) == 0 {
		d.Families = []string{"ipv4"}
	}
	for i, f := range d.Families {
		if f != "ipv4" && f != "ipv6" {
			return confval.Errorf("families."+strconv.Itoa(i), "%q is not ipv4 or ipv6", f)
		}
	}
	if err := confval.Positive(&d.Interval, 60*time.Second); err != nil {
		return confval.Errorf("interval", "%v", err)
	}
	if d.Interval.Duration < 10*time.Second {
		return confval.Errorf("interval", "%s is too short: providers ban clients that poll that often (minimum 10s)", d.Interval.Duration)
	}
	if d.Quorum < 0 || d.Quorum > max(len(d.Sources), 3) {
		return confval.Errorf("quorum", "%d is more than the number of sources", d.Quorum)
	}
	for i, s := range d.Sources {
		if err := s.validate("sources." + strconv.Itoa(i)); err != nil {
			return err
		}
	}
	if len(d.Providers) == 0 {
		return confval.Errorf("providers", "missing: at least one provider (rfc2136, dyndns2, duckdns, cloudflare)")
	}
	names := map[string]bool{}
	for i := range d.Providers {
		pr := &d.Providers[i]
		p := "providers." + strconv.Itoa(i)
		if pr.Name == "" {
			return confval.Errorf(p+".name", "missing")
		}
		if names[pr.Name] {
			return confval.Errorf(p+".name", "provider %q is defined twice", pr.Name)
		}
		names[pr.Name] = true
		if err := pr.validate(p, d.Host); err != nil {
			return err
		}
	}
	return nil
}

func (s SourceConfig) validate(p string) error {
	switch s.Type {
	case "opendns", "google", "cloudflare", "interface":
	case "dns":
		if s.QName == "" || s.Server4 == "" && s.Server6 == "" {
			return confval.Errorf(p, "a dns source needs qname and server4 or server6")
		}
	case "http":
		if s.URL4 == "" && s.URL6 == "" {
			return confval.Errorf(p, "an http source needs url4 or url6")
		}
	default:
		return confval.Errorf(p+".type", "%q is not opendns, google, cloudflare, dns, http or interface", s.Type)
	}
	for _, hp := range []struct{ key, v string }{{"server4", s.Server4}, {"server6", s.Server6}} {
		if hp.v != "" {
			if _, _, err := net.SplitHostPort(hp.v); err != nil {
				return confval.Errorf(p+"."+hp.key, "%q is not host:port", hp.v)
			}
		}
	}
	if s.Class != "" && s.Class != "IN" && s.Class != "CH" {
		return confval.Errorf(p+".class", "%q is not IN or CH", s.Class)
	}
	return nil
}

func (pr *ProviderConfig) validate(p, host string) error {
	need := func(key, v string) error {
		if v == "" {
			return confval.Errorf(p+"."+key, "missing (needed by type %s)", pr.Type)
		}
		return nil
	}
	switch pr.Type {
	case "rfc2136":
		for _, kv := range [][2]string{{"server", pr.Server}, {"zone", pr.Zone}, {"key_name", pr.KeyName}} {
			if err := need(kv[0], kv[1]); err != nil {
				return err
			}
		}
		if pr.Secret == "" && pr.SecretFile == "" {
			return confval.Errorf(p+".secret", "missing: secret or secret_file")
		}
		if !strings.HasSuffix(strings.TrimSuffix(host, "."), strings.TrimSuffix(pr.Zone, ".")) {
			return confval.Errorf(p+".zone", "host %s is not inside zone %s", host, pr.Zone)
		}
		switch strings.ToLower(pr.Algorithm) {
		case "", "hmac-sha256", "hmac-sha512", "hmac-sha1":
		default:
			return confval.Errorf(p+".algorithm", "%q: use hmac-sha256 (default), hmac-sha512 or hmac-sha1", pr.Algorithm)
		}
		if err := confval.Positive(&pr.TTL, 60*time.Second); err != nil {
			return confval.Errorf(p+".ttl", "%v", err)
		}
	case "dyndns2":
		if err := need("url", pr.URL); err != nil {
			return err
		}
		if err := need("username", pr.Username); err != nil {
			return err
		}
		if pr.Password == "" && pr.PasswordFile == "" {
			return confval.Errorf(p+".password", "missing: password or password_file")
		}
	case "duckdns", "cloudflare":
		if pr.Token == "" && pr.TokenFile == "" {
			return confval.Errorf(p+".token", "missing: token or token_file")
		}
		if pr.Type == "cloudflare" {
			if err := need("zone", pr.Zone); err != nil {
				return err
			}
		}
	default:
		return confval.Errorf(p+".type", "%q is not rfc2136, dyndns2, duckdns or cloudflare", pr.Type)
	}
	for _, hp := range []struct{ key, v string }{{"server", pr.Server}, {"verify_server", pr.VerifyServer}} {
		if hp.v != "" {
			if _, _, err := net.SplitHostPort(hp.v); err != nil {
				return confval.Errorf(p+"."+hp.key, "%q is not host:port", hp.v)
			}
		}
	}
	return nil
}

// New builds the manager a validated Config describes, reading the
// providers' secret files. The caller sets State, Logger and the hooks.
func New(d Config) (*ddns.Manager, error) {
	det := &ddns.Detector{Quorum: d.Quorum}
	srcs := d.Sources
	if len(srcs) == 0 {
		srcs = []SourceConfig{{Type: "opendns"}, {Type: "google"}, {Type: "cloudflare"}}
	}
	for _, s := range srcs {
		det.Sources = append(det.Sources, s.build())
	}
	m := &ddns.Manager{Host: d.Host, Detector: det, Interval: d.Interval.Duration}
	for _, f := range d.Families {
		if f == "ipv6" {
			m.Families = append(m.Families, ddns.IPv6)
		} else {
			m.Families = append(m.Families, ddns.IPv4)
		}
	}
	for _, pr := range d.Providers {
		p, err := pr.build()
		if err != nil {
			return nil, err
		}
		m.Providers = append(m.Providers, p)
	}
	return m, nil
}

// RFC2136 builds the updater of the rfc2136 provider called name (ACME's
// DNS-01 challenge answers through it).
func (d Config) RFC2136(name string) (*ddns.RFC2136, error) {
	for _, pr := range d.Providers {
		if pr.Name != name || pr.Type != "rfc2136" {
			continue
		}
		p, err := pr.build()
		if err != nil {
			return nil, err
		}
		return p.Updater.(*ddns.RFC2136), nil
	}
	return nil, fmt.Errorf("ddns: no rfc2136 provider %q", name)
}

func (s SourceConfig) build() ddns.Source {
	switch s.Type {
	case "http":
		return &ddns.HTTPSource{Label: cmp.Or(s.Name, "http"), URL4: s.URL4, URL6: s.URL6}
	case "interface":
		return &ddns.InterfaceSource{Interfaces: s.Interfaces}
	}
	ds := &ddns.DNSSource{Label: s.Type}
	switch s.Type {
	case "opendns":
		ds = ddns.OpenDNS()
	case "google":
		ds = ddns.GoogleMyaddr()
	case "cloudflare":
		ds = ddns.CloudflareWhoami()
	}
	if s.Name != "" {
		ds.Label = s.Name
	}
	if s.Server4 != "" {
		ds.Server4 = s.Server4
	}
	if s.Server6 != "" {
		ds.Server6 = s.Server6
	}
	if s.QName != "" {
		ds.QName = s.QName
	}
	if s.Type == "dns" {
		ds.TXT = s.TXT
		if s.Class == "CH" {
			ds.Class = dns.ClassCHAOS
		}
	}
	return ds
}

func (pr ProviderConfig) build() (ddns.Provider, error) {
	var u ddns.Updater
	switch pr.Type {
	case "rfc2136":
		secret, err := readSecret(pr.Secret, pr.SecretFile)
		if err != nil {
			return ddns.Provider{}, fmt.Errorf("ddns provider %s: secret_file: %w", pr.Name, err)
		}
		u = &ddns.RFC2136{Server: pr.Server, Zone: pr.Zone, KeyName: pr.KeyName, Secret: secret, Algorithm: pr.Algorithm, TTL: pr.TTL.Duration}
	case "dyndns2":
		pw, err := readSecret(pr.Password, pr.PasswordFile)
		if err != nil {
			return ddns.Provider{}, fmt.Errorf("ddns provider %s: password_file: %w", pr.Name, err)
		}
		u = &ddns.Dyndns2{URL: pr.URL, Username: pr.Username, Password: pw}
	case "duckdns", "cloudflare":
		tok, err := readSecret(pr.Token, pr.TokenFile)
		if err != nil {
			return ddns.Provider{}, fmt.Errorf("ddns provider %s: token_file: %w", pr.Name, err)
		}
		if pr.Type == "duckdns" {
			u = &ddns.DuckDNS{URL: pr.URL, Token: tok}
		} else {
			u = &ddns.Cloudflare{URL: pr.URL, Token: tok, Zone: pr.Zone}
		}
	default:
		return ddns.Provider{}, fmt.Errorf("ddns provider %s: type %q is not rfc2136, dyndns2, duckdns or cloudflare", pr.Name, pr.Type)
	}
	p := ddns.Provider{Name: pr.Name, Updater: u}
	if pr.VerifyServer != "" {
		p.Verify = verifyAt(pr.VerifyServer)
	}
	return p, nil
}

// readSecret returns v, or the trimmed content of file.
func readSecret(v, file string) (string, error) {
	if file == "" {
		return v, nil
	}
	b, err := boundedfile.Read(file, boundedfile.Secret)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// verifyAt adapts an authoritative server into a ddns.Verifier.
type verifyAt string

func (v verifyAt) Current(ctx context.Context, host string, fam ddns.Family) ([]netip.Addr, error) {
	return ddns.QueryAuthoritative(ctx, string(v), host, fam, 5*time.Second)
}
