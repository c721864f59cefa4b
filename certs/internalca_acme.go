//go:build !licgate_omit_acme

package certs

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/caddyserver/certmagic"
)

var _ certmagic.Issuer = (*InternalCA)(nil)

// ACMEBuilt reports whether this build can get certificates over ACME
// (false in builds made with the licgate_omit_acme tag).
const ACMEBuilt = true

// DefaultACMEDirectory is the directory used when the config names none:
// Let's Encrypt ("off" in builds without ACME).
const DefaultACMEDirectory = certmagic.LetsEncryptProductionCA

// IssuerKey implements certmagic.Issuer.
func (ca *InternalCA) IssuerKey() string { return "licgate-internal-ca" }

// Issue implements certmagic.Issuer: a leaf for the CSR's names.
func (ca *InternalCA) Issue(ctx context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	if err := ca.load(); err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("gateway: internal CA: CSR signature: %w", err)
	}
	der, err := ca.signLeaf(csr.PublicKey, firstOr(csr.DNSNames, csr.Subject.CommonName), csr.DNSNames, csr.IPAddresses)
	if err != nil {
		return nil, err
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ca.pem...)
	return &certmagic.IssuedCertificate{Certificate: chain}, nil
}
