package gateway

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/licgate/licgate/ddns"
)

// publicCertConfig is the certmagic config for the public name: ACME
// (if configured), then the internal CA.
func (g *Gateway) publicCertConfig() (*certmagic.Config, error) {
	ca, err := g.internalCA()
	if err != nil {
		return nil, err
	}
	cfg, cache := g.newCertmagic()
	cfg.RenewalWindowRatio = 1.0 / 3
	g.publicCache = cache
	a := g.cfg.Public.ACME
	var issuers []certmagic.Issuer
	if a.Directory != "off" {
		tmpl := certmagic.ACMEIssuer{
			CA: a.Directory, Email: a.Email, Agreed: true, Logger: zap.NewNop(),
			AltHTTPPort: a.HTTPPort, AltTLSALPNPort: a.TLSALPNPort, ListenHost: a.ListenHost,
			DisableHTTPChallenge:    !slices.Contains(a.Challenges, "http-01"),
			DisableTLSALPNChallenge: !slices.Contains(a.Challenges, "tls-alpn-01"),
		}
		if a.CARootFile != "" {
			pemData, err := os.ReadFile(a.CARootFile)
			if err != nil {
				return nil, fmt.Errorf("public.acme.ca_root_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pemData) {
				return nil, fmt.Errorf("public.acme.ca_root_file %s: no PEM certificates", a.CARootFile)
			}
			tmpl.TrustedRoots = pool
		}
		if slices.Contains(a.Challenges, "dns-01") {
			u, err := g.dnsProvider(a.DNSProvider)
			if err != nil {
				return nil, err
			}
			tmpl.DNS01Solver = &certmagic.DNS01Solver{DNSManager: certmagic.DNSManager{
				DNSProvider: u, Resolvers: a.DNSResolvers, TTL: 60 * time.Second,
				// The CA asks the zone's servers itself; our check would
				// only repeat it against resolvers that may cache.
				PropagationTimeout: -1,
			}}
		}
		issuers = append(issuers, certmagic.NewACMEIssuer(cfg, tmpl))
	}
	cfg.Issuers = append(issuers, ca)
	return cfg, nil
}

// dnsProvider returns the RFC 2136 updater of the named ddns provider.
func (g *Gateway) dnsProvider(name string) (*ddns.RFC2136, error) {
	m, err := g.cfg.DDNSManager()
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
	if g.publicCfg == nil {
		return fmt.Errorf("no public listener")
	}
	name := g.cfg.Public.Name
	old := g.publicCache.AllMatchingCertificates(name)
	if err := g.publicCfg.RenewCertSync(ctx, name, force); err != nil {
		return fmt.Errorf("renew certificate for %s: %w", name, err)
	}
	// RenewCertSync stores the new certificate; serve it from now on.
	fresh, err := g.publicCfg.CacheManagedCertificate(ctx, name)
	if err != nil {
		return fmt.Errorf("load renewed certificate for %s: %w", name, err)
	}
	var stale []string
	for _, c := range old {
		if c.Hash() != fresh.Hash() {
			stale = append(stale, c.Hash())
		}
	}
	g.publicCache.Remove(stale)
	return nil
}
