package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
)

// handshake runs a TLS handshake over a pipe against srv and returns the
// server's leaf, verified against the internal CA's root.
func handshake(t *testing.T, m *Manager, srv *tls.Config, serverName string) *x509.Certificate {
	t.Helper()
	root, err := m.RootPEM()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(root) {
		t.Fatal("root is not PEM")
	}
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	errc := make(chan error, 1)
	go func() { errc <- tls.Server(c2, srv).Handshake() }()
	cl := tls.Client(c1, &tls.Config{RootCAs: pool, ServerName: serverName, NextProtos: []string{"h2", "http/1.1"}})
	if err := cl.Handshake(); err != nil {
		t.Fatalf("client handshake (%s): %v", serverName, err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	// h2 unless net/http was built without it (nethttpomithttp2).
	if p := cl.ConnectionState().NegotiatedProtocol; p != httpProtos[0] {
		t.Errorf("ALPN: %q, want %s", p, httpProtos[0])
	}
	return cl.ConnectionState().PeerCertificates[0]
}

// Both builds (with and without licgate_omit_acme) serve the tunnel
// address and a public name with certificates of the internal CA.
func TestInternalCAServesTunnelAndPublic(t *testing.T) {
	ctx := context.Background()
	m := New(t.TempDir(), nil)
	tun, err := m.TunnelTLS(ctx, "10.44.0.1")
	if err != nil {
		t.Fatal(err)
	}
	// Browsers send no SNI for an IP address; the client verifies the IP SAN.
	leaf := handshake(t, m, tun, "10.44.0.1")
	if leaf.Issuer.CommonName != caCommonName || len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP("10.44.0.1")) {
		t.Fatalf("tunnel leaf: issuer %q, IPs %v", leaf.Issuer.CommonName, leaf.IPAddresses)
	}
	pub, err := m.PublicTLS(ctx, "gw.example.test", ACME{Directory: "off"})
	if err != nil {
		t.Fatal(err)
	}
	leaf = handshake(t, m, pub, "gw.example.test")
	if leaf.Subject.CommonName != "gw.example.test" {
		t.Fatalf("public leaf for %q", leaf.Subject.CommonName)
	}
	views := m.Views("10.44.0.1")
	if len(views) != 2 || views[0].Name != "10.44.0.1" || views[1].Name != "gw.example.test" || views[1].Issuer != caCommonName {
		t.Fatalf("views: %+v", views)
	}
	if err := m.RenewPublic(ctx, true); err != nil {
		t.Fatal(err)
	}
	if again := handshake(t, m, pub, "gw.example.test"); again.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Fatal("forced renewal serves the old certificate")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
