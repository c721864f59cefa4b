package certs

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/libdns/libdns"

	"github.com/licgate/licgate/internal/confval"
)

// ACMEConfig is the public.acme: block of licgate.yaml: it gets the
// public name's certificate from an ACME CA. Issuers are tried in turn:
// ACME first, licgate's internal CA when ACME fails (its short-lived
// certificates make certmagic try ACME again soon). Validate fills in the
// defaults; Provision turns it into an ACME.
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

// DNS01 answers the DNS-01 challenge (a ddns provider of type rfc2136).
type DNS01 interface {
	libdns.RecordAppender
	libdns.RecordDeleter
}

// Validate fills in the defaults and checks every value. Its errors are
// *confval.FieldError naming the key below public.acme:. Whether
// dns_provider names a provider is for the caller, who has them.
func (a *ACMEConfig) Validate() error {
	if a.Directory == "" {
		a.Directory = DefaultACMEDirectory
	}
	if a.Directory == "off" {
		return nil
	}
	if !ACMEBuilt {
		return confval.Errorf("directory", "%q: this build has no ACME (licgate_omit_acme); set off (the internal CA signs the public certificate) or use the full build", a.Directory)
	}
	if len(a.Challenges) == 0 {
		a.Challenges = []string{"http-01", "tls-alpn-01"}
	}
	for i, ch := range a.Challenges {
		if ch != "http-01" && ch != "tls-alpn-01" && ch != "dns-01" {
			return confval.Errorf("challenges."+strconv.Itoa(i), "%q is not http-01, tls-alpn-01 or dns-01", ch)
		}
	}
	for _, p := range []struct {
		key string
		v   int
	}{{"http_port", a.HTTPPort}, {"tls_alpn_port", a.TLSALPNPort}} {
		if p.v < 0 || p.v > 65535 {
			return confval.Errorf(p.key, "%d is not a port", p.v)
		}
	}
	return nil
}

// Provision is the ACME part of the public listener that a validated
// ACMEConfig describes: the CA roots read and, with dns-01, the updater
// dns returns for DNSProvider.
func (a ACMEConfig) Provision(dns func(provider string) (DNS01, error)) (ACME, error) {
	out := ACME{Directory: a.Directory, Email: a.Email, Challenges: a.Challenges, DNSResolvers: a.DNSResolvers,
		HTTPPort: a.HTTPPort, TLSALPNPort: a.TLSALPNPort, ListenHost: a.ListenHost}
	if a.Directory == "off" {
		return out, nil
	}
	if a.CARootFile != "" {
		pool, err := ReadRoots(a.CARootFile)
		if err != nil {
			return out, fmt.Errorf("public.acme.ca_root_file: %w", err)
		}
		out.TrustedRoots = pool
	}
	if slices.Contains(a.Challenges, "dns-01") {
		u, err := dns(a.DNSProvider)
		if err != nil {
			return out, fmt.Errorf("public.acme.dns_provider %q: %w", a.DNSProvider, err)
		}
		out.DNS = u
	}
	return out, nil
}
