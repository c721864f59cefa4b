package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/licgate/licgate/internal/atomicfile"
)

// InternalCA is a certmagic Issuer that signs certificates with a CA of
// licgate's own, kept in the state directory. It comes after the ACME
// issuer (certmagic tries issuers in turn) so the console and enrolment
// page have HTTPS without a public name, or while ACME fails; its leaf
// certificates are short-lived so that ACME is tried again soon. Admins
// can import its root (`licgate ca`) into their browsers.
type InternalCA struct {
	// Dir holds ca.crt and ca.key.
	Dir string
	// LeafLifetime. If zero, 7 days.
	LeafLifetime time.Duration

	once sync.Once
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
	err  error
}

func (ca *InternalCA) load() error {
	ca.once.Do(func() {
		crtPath, keyPath := filepath.Join(ca.Dir, "ca.crt"), filepath.Join(ca.Dir, "ca.key")
		crtPEM, err1 := os.ReadFile(crtPath)
		keyPEM, err2 := os.ReadFile(keyPath)
		if err1 == nil && err2 == nil {
			ca.err = ca.parse(crtPEM, keyPEM)
			return
		}
		if !errors.Is(err1, os.ErrNotExist) && err1 != nil {
			ca.err = err1
			return
		}
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			ca.err = err
			return
		}
		serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
		tmpl := &x509.Certificate{
			SerialNumber:          serial,
			Subject:               pkix.Name{CommonName: caCommonName, Organization: []string{"licgate"}},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().AddDate(10, 0, 0),
			IsCA:                  true,
			BasicConstraintsValid: true,
			MaxPathLenZero:        true,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			ca.err = err
			return
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		crtPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
		if err := atomicfile.Write(keyPath, keyPEM, 0o600); err != nil {
			ca.err = err
			return
		}
		if err := atomicfile.Write(crtPath, crtPEM, 0o644); err != nil {
			ca.err = err
			return
		}
		ca.err = ca.parse(crtPEM, keyPEM)
	})
	if ca.err != nil {
		return fmt.Errorf("gateway: internal CA in %s: %w", ca.Dir, ca.err)
	}
	return nil
}

func (ca *InternalCA) parse(crtPEM, keyPEM []byte) error {
	cb, _ := pem.Decode(crtPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return errors.New("ca.crt or ca.key is not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return err
	}
	ca.cert, ca.key, ca.pem = cert, key, crtPEM
	return nil
}

// RootPEM is the CA certificate, for admins' trust stores.
func (ca *InternalCA) RootPEM() ([]byte, error) {
	if err := ca.load(); err != nil {
		return nil, err
	}
	return ca.pem, nil
}

// leafLifetime is LeafLifetime or its default.
func (ca *InternalCA) leafLifetime() time.Duration {
	if ca.LeafLifetime == 0 {
		return 7 * 24 * time.Hour
	}
	return ca.LeafLifetime
}

// signLeaf signs a server certificate for pub (DER), valid from five
// minutes ago for leafLifetime. The CA must be loaded.
func (ca *InternalCA) signLeaf(pub any, cn string, dnsNames []string, ips []net.IP) ([]byte, error) {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
		NotBefore:    time.Now().Add(-5 * time.Minute),
		NotAfter:     time.Now().Add(ca.leafLifetime()),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("gateway: internal CA: sign: %w", err)
	}
	return der, nil
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

// caCommonName names licgate's internal CA in the certificates it signs.
const caCommonName = "licgate internal CA"
