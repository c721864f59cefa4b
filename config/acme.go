package config

import (
	"fmt"
	"slices"

	"github.com/licgate/licgate/certs"
	"github.com/licgate/licgate/ddns"
)

// ACME is the provisioned ACME part of the public listener: the CA
// roots read, the DNS-01 provider built.
func (c *Config) ACME() (certs.ACME, error) {
	a := c.Public.ACME
	out := certs.ACME{Directory: a.Directory, Email: a.Email, Challenges: a.Challenges, DNSResolvers: a.DNSResolvers,
		HTTPPort: a.HTTPPort, TLSALPNPort: a.TLSALPNPort, ListenHost: a.ListenHost}
	if a.Directory == "off" {
		return out, nil
	}
	if a.CARootFile != "" {
		pool, err := certs.ReadRoots(a.CARootFile)
		if err != nil {
			return out, fmt.Errorf("public.acme.ca_root_file: %w", err)
		}
		out.TrustedRoots = pool
	}
	if slices.Contains(a.Challenges, "dns-01") {
		u, err := c.dnsProvider(a.DNSProvider)
		if err != nil {
			return out, err
		}
		out.DNS = u
	}
	return out, nil
}

// dnsProvider returns the RFC 2136 updater of the named ddns provider.
func (c *Config) dnsProvider(name string) (*ddns.RFC2136, error) {
	m, err := c.DDNSManager()
	if err != nil {
		return nil, err
	}
	for _, p := range m.Providers {
		if u, ok := p.Updater.(*ddns.RFC2136); ok && p.Name == name {
			return u, nil
		}
	}
	return nil, fmt.Errorf("public.acme.dns_provider %q: no rfc2136 provider of that name", name)
}
