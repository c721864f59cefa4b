package config

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/licgate/licgate/certs"
	"github.com/licgate/licgate/internal/confval"
	"github.com/licgate/licgate/internal/secretfile"
)

// AdminConfig says who may use the admin API and console over the network
// (the unix socket is always there for root and the service user).
type AdminConfig struct {
	// Group is the policy group whose members' devices may use the admin
	// API and console inside the tunnel, at https://<tunnel.address>/. If
	// empty, "admins". Identity comes from the WireGuard key: no password.
	Group string `yaml:"group"`
	// Port inside the tunnel. If zero, 443.
	Port int `yaml:"port"`
	// LANListen optionally serves the same on a LAN address, to holders of
	// the token in TokenFile (Authorization: Bearer <token>).
	LANListen string `yaml:"lan_listen"`
	TokenFile string `yaml:"token_file"`
}

func (c *Config) validateAdmin() error {
	a := &c.Admin
	if a.Group == "" {
		a.Group = "admins"
	}
	if a.Port == 0 {
		a.Port = 443
	}
	if a.Port < 1 || a.Port > 65535 {
		return c.at("admin.port", "%d is not a port", a.Port)
	}
	for _, s := range c.Services {
		if s.Port == a.Port && slices.Contains(s.Protocols, "tcp") {
			return c.at("admin.port", "%d is service %s's port", a.Port, s.Name)
		}
	}
	if a.LANListen != "" {
		if _, _, err := net.SplitHostPort(a.LANListen); err != nil {
			return c.at("admin.lan_listen", "%q is not host:port", a.LANListen)
		}
		if a.TokenFile == "" {
			return c.at("admin.token_file", "missing: the LAN listener needs a token (a file with a long random string)")
		}
	}
	return nil
}

// minAdminToken is the shortest LAN admin token accepted.
const minAdminToken = 20

// AdminToken reads admin.token_file (bounded: a device or FIFO named by
// mistake is refused, never read) and checks the token's length. `serve`
// and `serve --check` both call it. Empty without admin.lan_listen.
func (c *Config) AdminToken() (string, error) {
	if c.Admin.LANListen == "" {
		return "", nil
	}
	tok, err := secretfile.Read(c.Admin.TokenFile)
	if err != nil {
		return "", fmt.Errorf("%w: admin.token_file: %w", ErrConfig, err)
	}
	token := strings.TrimSpace(tok)
	if len(token) < minAdminToken {
		return "", fmt.Errorf("%w: admin.token_file %s: the token must be at least %d characters", ErrConfig, c.Admin.TokenFile, minAdminToken)
	}
	return token, nil
}

// PublicConfig is the listener reachable from the internet. It serves
// enrolment links and nothing else.
type PublicConfig struct {
	// Listen is host:port, e.g. ":443". Empty: no public listener.
	Listen string `yaml:"listen"`
	// Name is the certificate's and the links' host name. If empty,
	// ddns.host, else tunnel.endpoint's host.
	Name string `yaml:"name"`
	// LinkTTL is how long an enrolment link stays valid. If empty, 24h.
	LinkTTL confval.Duration `yaml:"link_ttl"`
	// ACME gets the certificate for Name from an ACME CA.
	ACME certs.ACMEConfig `yaml:"acme"`
}

func (c *Config) validatePublic() error {
	p := &c.Public
	if err := confval.Positive(&p.LinkTTL, 24*time.Hour); err != nil {
		return c.at("public.link_ttl", "%v", err)
	}
	if p.Listen == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(p.Listen); err != nil {
		return c.at("public.listen", "%q is not host:port (e.g. \":443\")", p.Listen)
	}
	if p.Name == "" {
		p.Name = c.DDNS.Host
	}
	if p.Name == "" {
		p.Name, _, _ = strings.Cut(c.Tunnel.Endpoint, ":")
	}
	return c.validateACME()
}

func (c *Config) validateACME() error {
	a := &c.Public.ACME
	if err := a.Validate(); err != nil {
		return c.blockErr("public.acme", err)
	}
	if a.Directory == "off" || !slices.Contains(a.Challenges, "dns-01") {
		return nil
	}
	for _, p := range c.DDNS.Providers {
		if p.Name == a.DNSProvider && p.Type == "rfc2136" {
			return nil
		}
	}
	return c.at("public.acme.dns_provider", "dns-01 needs the name of a ddns provider of type rfc2136 (got %q)", a.DNSProvider)
}
