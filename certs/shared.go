package certs

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/libdns/libdns"
	"github.com/licgate/licgate/internal/boundedfile"
)

// ACME configures the public name's certificate from an ACME CA. Issuers
// are tried in turn: ACME first, the internal CA when ACME fails (its
// short-lived certificates make certmagic try ACME again soon).
type ACME struct {
	// Directory is the ACME directory URL; "off" (or empty) uses the
	// internal CA only.
	Directory string
	Email     string
	// TrustedRoots verify the ACME server's own HTTPS (a private CA); nil
	// for the system roots.
	TrustedRoots *x509.CertPool
	// Challenges: http-01, tls-alpn-01, dns-01.
	Challenges []string
	// DNS answers DNS-01 (libdns record setter/deleter); required with dns-01.
	DNS interface {
		libdns.RecordAppender
		libdns.RecordDeleter
	}
	// DNSResolvers find the zone for DNS-01 (host:port).
	DNSResolvers []string
	// HTTPPort, TLSALPNPort, ListenHost: where the challenges are answered.
	HTTPPort, TLSALPNPort int
	ListenHost            string
}

// View is a certificate in use.
type View struct {
	Name     string    `json:"name"`
	Issuer   string    `json:"issuer"`
	NotAfter time.Time `json:"not_after"`
}

// ReadRoots reads a PEM file of CA certificates.
func ReadRoots(path string) (*x509.CertPool, error) {
	data, err := boundedfile.Read(path, boundedfile.PEM)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("certs: %s: no PEM certificates", path)
	}
	return pool, nil
}
