//go:build !licgate_omit_acme

package certs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
)

// Manager owns licgate's certificates: the internal CA, the tunnel
// address's certificate (always from the internal CA) and the public
// name's (ACME, then the internal CA), with renewal in the background.
// certmagic logs through the Manager's slog logger.
//
// Lifecycle: New (no side effects) -> TunnelTLS / PublicTLS -> Close
// (stops renewal; a second Close returns net.ErrClosed semantics: nil).
type Manager struct {
	dir string
	log *slog.Logger
	ca  *InternalCA

	mu       sync.Mutex
	tunnel   *managed
	public   *managed
	fallback *managed // the public name's internal-CA certificate until ACME's is there
	pubName  string
	bgCancel context.CancelFunc
}

type managed struct {
	cfg   *certmagic.Config
	cache *certmagic.Cache
}

// New returns a manager keeping its CA and certificates under stateDir.
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

func (m *Manager) newCertmagic() *managed { return m.newCertmagicIn(filepath.Join(m.dir, "certs")) }

// newCertmagicIn keeps its certificates under dir.
func (m *Manager) newCertmagicIn(dir string) *managed {
	var cfg *certmagic.Config
	zl := ZapLogger(m.log.With(slog.String("component", "certs")))
	cache := certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return cfg, nil },
		Logger:           zl,
	})
	cfg = certmagic.New(cache, certmagic.Config{
		Storage: &certmagic.FileStorage{Path: dir},
		Logger:  zl,
	})
	return &managed{cfg: cfg, cache: cache}
}

// serverTLS serves cfg's certificates; while cfg has none for a name,
// fallback's (nil: none).
func serverTLS(cfg, fallback *certmagic.Config, fallbackName string) *tls.Config {
	t := cfg.TLSConfig()
	t.NextProtos = append(slices.Clone(httpProtos), t.NextProtos...)
	t.MinVersion = tls.VersionTLS12
	t.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if hello.ServerName == "" && fallbackName != "" {
			// Browsers send no SNI for IP addresses.
			h := *hello
			h.ServerName = fallbackName
			hello = &h
		}
		c, err := cfg.GetCertificate(hello)
		if (err != nil || c == nil) && fallback != nil {
			return fallback.GetCertificate(hello)
		}
		return c, err
	}
	return t
}

// quietACME is certmagic's ACME issuer, never interactive: certmagic
// asks on standard input for an e-mail address when it has none and the
// call is interactive (ManageSync, RenewCertSync); a daemon has no one
// there, and its stdin may be anything.
type quietACME struct{ *certmagic.ACMEIssuer }

func (q quietACME) PreCheck(ctx context.Context, names []string, _ bool) error {
	return q.ACMEIssuer.PreCheck(ctx, names, false)
}

// TunnelTLS returns the server TLS config for the admin listeners: a
// certificate for the gateway's tunnel address from the internal CA.
func (m *Manager) TunnelTLS(ctx context.Context, addr string) (*tls.Config, error) {
	if _, err := m.ca.RootPEM(); err != nil {
		return nil, fmt.Errorf("certs: internal CA: %w", err)
	}
	mg := m.newCertmagic()
	mg.cfg.Issuers = []certmagic.Issuer{m.ca}
	m.mu.Lock()
	m.tunnel = mg
	m.mu.Unlock()
	if err := mg.cfg.ManageSync(ctx, []string{addr}); err != nil {
		return nil, fmt.Errorf("certs: certificate for %s: %w", addr, err)
	}
	return serverTLS(mg.cfg, nil, addr), nil
}

// PublicTLS returns the server TLS config for the public name. An IP
// address gets a certificate of the internal CA (ACME is for DNS names).
// A DNS name with ACME configured gets one from the ACME CA, obtained in
// the background (never delaying the caller), with the internal CA behind
// it; until it is there, the internal CA's certificate is served.
func (m *Manager) PublicTLS(ctx context.Context, name string, a ACME) (*tls.Config, error) {
	if _, err := m.ca.RootPEM(); err != nil {
		return nil, fmt.Errorf("certs: internal CA: %w", err)
	}
	acmeOn := a.Directory != "" && a.Directory != "off"
	if _, err := netip.ParseAddr(name); err == nil && acmeOn {
		m.log.Info("certs: the public name is an IP address: its certificate comes from licgate's internal CA (ACME is for DNS names)",
			slog.String("name", name))
		acmeOn = false
	}
	if !acmeOn {
		mg := m.newCertmagic()
		mg.cfg.Issuers = []certmagic.Issuer{m.ca}
		m.mu.Lock()
		m.public, m.pubName = mg, name
		m.mu.Unlock()
		if err := mg.cfg.ManageSync(ctx, []string{name}); err != nil { // the internal CA: local, quick
			return nil, fmt.Errorf("certs: certificate for %s: %w", name, err)
		}
		return serverTLS(mg.cfg, nil, name), nil // name: browsers send no SNI when it is an IP address
	}
	mg := m.newCertmagic()
	mg.cfg.RenewalWindowRatio = 1.0 / 3
	tmpl := certmagic.ACMEIssuer{
		CA: a.Directory, Email: a.Email, Agreed: true, Logger: ZapLogger(m.log.With(slog.String("component", "acme"))),
		AltHTTPPort: a.HTTPPort, AltTLSALPNPort: a.TLSALPNPort, ListenHost: a.ListenHost,
		DisableHTTPChallenge:    !slices.Contains(a.Challenges, "http-01"),
		DisableTLSALPNChallenge: !slices.Contains(a.Challenges, "tls-alpn-01"),
		TrustedRoots:            a.TrustedRoots,
	}
	if slices.Contains(a.Challenges, "dns-01") {
		if a.DNS == nil {
			return nil, errors.New("certs: dns-01 needs a DNS provider")
		}
		tmpl.DNS01Solver = &certmagic.DNS01Solver{DNSManager: certmagic.DNSManager{
			DNSProvider: a.DNS, Resolvers: a.DNSResolvers, TTL: 60 * time.Second,
			// The CA asks the zone's servers itself; our check would
			// only repeat it against resolvers that may cache.
			PropagationTimeout: -1,
		}}
	}
	mg.cfg.Issuers = []certmagic.Issuer{quietACME{certmagic.NewACMEIssuer(mg.cfg, tmpl)}, m.ca}
	mg.cfg.OnEvent = func(_ context.Context, event string, data map[string]any) error {
		m.certEvent(name, a.Directory, event, data)
		return nil
	}
	// The internal CA's certificate, in storage of its own (in the ACME
	// config's storage it would count as the managed certificate and ACME
	// would not be asked until it is due).
	fb := m.newCertmagicIn(filepath.Join(m.dir, "certs-internal"))
	fb.cfg.Issuers = []certmagic.Issuer{m.ca}
	if err := fb.cfg.ManageSync(ctx, []string{name}); err != nil {
		return nil, fmt.Errorf("certs: internal certificate for %s: %w", name, err)
	}
	bg, cancel := context.WithCancel(context.Background()) // outlives Start's ctx; Close ends it
	m.mu.Lock()
	m.public, m.fallback, m.pubName, m.bgCancel = mg, fb, name, cancel
	m.mu.Unlock()
	if err := mg.cfg.ManageAsync(bg, []string{name}); err != nil {
		return nil, fmt.Errorf("certs: certificate for %s: %w", name, err)
	}
	return serverTLS(mg.cfg, fb.cfg, name), nil
}

// certEvent logs what certmagic did for the public name.
func (m *Manager) certEvent(name, directory, event string, data map[string]any) {
	switch event {
	case "cert_obtained":
		issuer, _ := data["issuer"].(string)
		if issuer == m.ca.IssuerKey() {
			m.log.Warn("ACME failed: the public name has a certificate of licgate's internal CA for now; browsers will warn until ACME succeeds (certmagic retries)",
				slog.String("name", name), slog.String("acme", directory))
			return
		}
		m.log.Info("certs: public certificate obtained", slog.String("name", name), slog.String("issuer", issuer))
	case "cert_failed":
		m.log.Warn("certs: obtaining the public certificate failed; the internal CA's is served meanwhile",
			slog.String("name", name), slog.String("acme", directory), slog.Any("error", data["error"]))
	}
}

// RenewPublic renews the public name's certificate now (force: even if it
// is not due) and serves the new one from then on.
func (m *Manager) RenewPublic(ctx context.Context, force bool) error {
	m.mu.Lock()
	mg, name := m.public, m.pubName
	m.mu.Unlock()
	if mg == nil {
		return errors.New("certs: no public listener")
	}
	old := mg.cache.AllMatchingCertificates(name)
	if err := mg.cfg.RenewCertSync(ctx, name, force); err != nil {
		return fmt.Errorf("certs: renew certificate for %s: %w", name, err)
	}
	fresh, err := mg.cfg.CacheManagedCertificate(ctx, name)
	if err != nil {
		return fmt.Errorf("certs: load renewed certificate for %s: %w", name, err)
	}
	var stale []string
	for _, c := range old {
		if c.Hash() != fresh.Hash() {
			stale = append(stale, c.Hash())
		}
	}
	mg.cache.Remove(stale)
	return nil
}

// Views lists the certificates served: the tunnel address's and the
// public name's.
func (m *Manager) Views(tunnelAddr string) []View {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []View{}
	add := func(mg *managed, name string) {
		if mg == nil {
			return
		}
		for _, c := range mg.cache.AllMatchingCertificates(name) {
			if c.Leaf != nil {
				out = append(out, View{Name: name, Issuer: c.Leaf.Issuer.CommonName, NotAfter: c.Leaf.NotAfter})
			}
		}
	}
	add(m.tunnel, tunnelAddr)
	n := len(out)
	add(m.public, m.pubName)
	if len(out) == n { // ACME's is not there yet: the internal CA's is served
		add(m.fallback, m.pubName)
	}
	return out
}

// Close stops renewal. Safe to call twice.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bgCancel != nil {
		m.bgCancel()
	}
	for _, mg := range []*managed{m.tunnel, m.public, m.fallback} {
		if mg != nil {
			mg.cache.Stop()
		}
	}
	m.tunnel, m.public, m.fallback, m.bgCancel = nil, nil, nil, nil
	return nil
}
