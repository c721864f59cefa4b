package gateway

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/licgate/licgate/ddns"
)

// ACMEConfig gets the public name's certificate from an ACME CA. Issuers
// are tried in turn: ACME first, licgate's internal CA when ACME fails
// (its short-lived certificates make certmagic try ACME again soon).
type ACMEConfig struct {
	// Directory is the ACME directory URL. If empty, Let's Encrypt;
	// "off" uses the internal CA only.
	Directory string `yaml:"directory"`
	Email     string `yaml:"email"`
	// CARootFile is a PEM file to trust for the ACME server's own HTTPS
	// (a private ACME CA).
	CARootFile string `yaml:"ca_root_file"`
	// Challenges: http-01, tls-alpn-01, dns-01. If empty, http-01 and tls-alpn-01.
	Challenges []string `yaml:"challenges"`
	// DNSProvider names a ddns provider of type rfc2136 that answers
	// DNS-01, so the office needs no inbound 80/443.
	DNSProvider string `yaml:"dns_provider"`
	// DNSResolvers are asked to find the zone for DNS-01 (host:port).
	DNSResolvers []string `yaml:"dns_resolvers"`
	// HTTPPort and TLSALPNPort are where the challenges are answered.
	// If zero, 80 and 443 (what the CA connects to).
	HTTPPort    int `yaml:"http_port"`
	TLSALPNPort int `yaml:"tls_alpn_port"`
	// ListenHost is the address the challenge listeners bind. If empty, all.
	ListenHost string `yaml:"listen_host"`
}

func (c *Config) validateACME() error {
	a := &c.Public.ACME
	if a.Directory == "" {
		a.Directory = certmagic.LetsEncryptProductionCA
	}
	if a.Directory == "off" {
		return nil
	}
	if len(a.Challenges) == 0 {
		a.Challenges = []string{"http-01", "tls-alpn-01"}
	}
	for i, ch := range a.Challenges {
		if ch != "http-01" && ch != "tls-alpn-01" && ch != "dns-01" {
			return c.at("public.acme.challenges."+strconv.Itoa(i), "%q is not http-01, tls-alpn-01 or dns-01", ch)
		}
	}
	if slices.Contains(a.Challenges, "dns-01") {
		found := false
		for _, p := range c.DDNS.Providers {
			if p.Name == a.DNSProvider && p.Type == "rfc2136" {
				found = true
			}
		}
		if !found {
			return c.at("public.acme.dns_provider", "dns-01 needs the name of a ddns provider of type rfc2136 (got %q)", a.DNSProvider)
		}
	}
	for _, p := range []struct {
		key string
		v   int
	}{{"http_port", a.HTTPPort}, {"tls_alpn_port", a.TLSALPNPort}} {
		if p.v < 0 || p.v > 65535 {
			return c.at("public.acme."+p.key, "%d is not a port", p.v)
		}
	}
	return nil
}

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
	m, err := g.cfg.ddnsManager()
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
