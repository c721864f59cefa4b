package gateway

import (
	"context"
	"fmt"
	"slices"

	"github.com/licgate/licgate/certs"
	"github.com/licgate/licgate/ddns"
)

// publicACME is the ACME part of the public listener's config.
func (g *Gateway) publicACME() (certs.ACME, error) {
	a := g.conf().Public.ACME
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
		u, err := g.dnsProvider(a.DNSProvider)
		if err != nil {
			return out, err
		}
		out.DNS = u
	}
	return out, nil
}

// dnsProvider returns the RFC 2136 updater of the named ddns provider.
func (g *Gateway) dnsProvider(name string) (*ddns.RFC2136, error) {
	m, err := g.conf().DDNSManager()
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

// RenewPublicCert renews the public name's certificate now (force: even
// if it is not due).
func (g *Gateway) RenewPublicCert(ctx context.Context, force bool) error {
	return g.certs.RenewPublic(ctx, force)
}
