//go:build licgate_omit_acme

package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// ErrACMEOmitted is returned when a build made with the
// licgate_omit_acme tag (the router build) is asked for ACME.
var ErrACMEOmitted = errors.New("certs: ACME is not in this build (licgate_omit_acme); set public.acme.directory: off or use the full build")

// ACMEBuilt reports whether this build can get certificates over ACME.
const ACMEBuilt = false

// DefaultACMEDirectory is the directory used when the config names none:
// "off" here, as this build has no ACME.
const DefaultACMEDirectory = "off"

// Manager owns licgate's certificates in a build without ACME
// (licgate_omit_acme): the internal CA signs the tunnel address's and the
// public name's certificates directly. They live in memory only (a
// restart signs new ones: the CA itself is kept in the state directory)
// and are renewed on the first handshake after two thirds of their
// lifetime, so no goroutine runs in the background.
//
// Lifecycle: New (no side effects) -> TunnelTLS / PublicTLS -> Close
// (nothing to stop; safe twice).
type Manager struct {
	dir string
	log *slog.Logger
	ca  *InternalCA
	now func() time.Time // for tests; time.Now if nil

	mu      sync.Mutex
	tunnel  *leafCert
	public  *leafCert
	pubName string
}

// New returns a manager keeping its CA under stateDir.
func New(stateDir string, logger *slog.Logger) *Manager {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{dir: stateDir, log: logger, ca: &InternalCA{Dir: filepath.Join(stateDir, "ca")}}
}

// CA is the internal CA (created on first use).
func (m *Manager) CA() *InternalCA { return m.ca }

// RootPEM is the internal CA's certificate, for browsers to import.
func (m *Manager) RootPEM() ([]byte, error) { return m.ca.RootPEM() }

func (m *Manager) clock() time.Time {
	if m.now != nil {
		return m.now()
	}
	return time.Now()
}

// leafCert is one name's certificate, signed again when due.
type leafCert struct {
	m    *Manager
	name string

	mu      sync.Mutex
	cert    *tls.Certificate
	renewAt time.Time
}

// get returns the certificate, signing a new one first if none is held or
// the held one is due. A failed renewal keeps serving the old certificate
// while it is valid.
func (l *leafCert) get() (*tls.Certificate, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.m.clock()
	if l.cert != nil && now.Before(l.renewAt) {
		return l.cert, nil
	}
	if err := l.renewLocked(); err != nil {
		if l.cert != nil && now.Before(l.cert.Leaf.NotAfter) {
			l.m.log.Warn("certificate renewal failed; serving the current one until it expires",
				slog.String("name", l.name), slog.Any("err", err))
			return l.cert, nil
		}
		return nil, err
	}
	return l.cert, nil
}

func (l *leafCert) renewLocked() error {
	ca := l.m.ca
	if err := ca.load(); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("certs: key for %s: %w", l.name, err)
	}
	var dns []string
	var ips []net.IP
	if ip := net.ParseIP(l.name); ip != nil {
		ips = []net.IP{ip}
	} else {
		dns = []string{l.name}
	}
	der, err := ca.signLeaf(&key.PublicKey, l.name, dns, ips)
	if err != nil {
		return fmt.Errorf("certs: certificate for %s: %w", l.name, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("certs: certificate for %s: %w", l.name, err)
	}
	l.cert = &tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key, Leaf: leaf}
	// As certmagic's default: renew with a third of the lifetime left.
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	l.renewAt = leaf.NotAfter.Add(-life / 3)
	return nil
}

func (l *leafCert) serverTLS() *tls.Config {
	return &tls.Config{
		NextProtos: slices.Clone(httpProtos),
		MinVersion: tls.VersionTLS12,
		// One certificate per listener, whatever the SNI (browsers send
		// none for IP addresses).
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return l.get() },
	}
}

func (m *Manager) manage(name string) (*leafCert, error) {
	if _, err := m.ca.RootPEM(); err != nil {
		return nil, fmt.Errorf("certs: internal CA: %w", err)
	}
	l := &leafCert{m: m, name: name}
	if _, err := l.get(); err != nil {
		return nil, err
	}
	return l, nil
}

// TunnelTLS returns the server TLS config for the admin listeners: a
// certificate for the gateway's tunnel address from the internal CA.
func (m *Manager) TunnelTLS(ctx context.Context, addr string) (*tls.Config, error) {
	l, err := m.manage(addr)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.tunnel = l
	m.mu.Unlock()
	return l.serverTLS(), nil
}

// PublicTLS returns the server TLS config for the public name, signed by
// the internal CA. ACME (a.Directory other than "" or "off") fails with
// ErrACMEOmitted: this build has none.
func (m *Manager) PublicTLS(ctx context.Context, name string, a ACME) (*tls.Config, error) {
	if a.Directory != "" && a.Directory != "off" {
		return nil, fmt.Errorf("%w (public.acme.directory is %q)", ErrACMEOmitted, a.Directory)
	}
	l, err := m.manage(name)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.public, m.pubName = l, name
	m.mu.Unlock()
	return l.serverTLS(), nil
}

// RenewPublic signs the public name's certificate again now (force: even
// if it is not due) and serves the new one from then on.
func (m *Manager) RenewPublic(ctx context.Context, force bool) error {
	m.mu.Lock()
	l := m.public
	m.mu.Unlock()
	if l == nil {
		return errors.New("certs: no public listener")
	}
	if !force {
		_, err := l.get()
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.renewLocked()
}

// Views lists the certificates served: the tunnel address's and the
// public name's.
func (m *Manager) Views(tunnelAddr string) []View {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []View{}
	for _, l := range []*leafCert{m.tunnel, m.public} {
		if l == nil {
			continue
		}
		l.mu.Lock()
		if l.cert != nil {
			out = append(out, View{Name: l.name, Issuer: l.cert.Leaf.Issuer.CommonName, NotAfter: l.cert.Leaf.NotAfter})
		}
		l.mu.Unlock()
	}
	return out
}

// Close forgets the certificates. Safe to call twice.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tunnel, m.public = nil, nil
	return nil
}
