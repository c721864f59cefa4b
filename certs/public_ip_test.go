package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
)

// TestPublicTLSForAnIPAddress: when the public name is an IP address,
// browsers send no SNI; the public listener still answers with the
// name's certificate (it failed the handshake before).
func TestPublicTLSForAnIPAddress(t *testing.T) {
	m := New(t.TempDir(), nil)
	defer m.Close()
	srvCfg, err := m.PublicTLS(context.Background(), "203.0.113.1", ACME{Directory: "off"})
	if err != nil {
		t.Fatal(err)
	}
	root, err := m.RootPEM()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(root)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			err = c.(*tls.Conn).Handshake()
			c.Close()
		}
		done <- err
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// ServerName is an IP: crypto/tls verifies it against the IP SANs
	// and, as browsers do, sends no SNI.
	c := tls.Client(raw, &tls.Config{ServerName: "203.0.113.1", RootCAs: pool})
	if err := c.Handshake(); err != nil {
		t.Fatalf("handshake without SNI: %v (server: %v)", err, <-done)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatalf("server: %v", err)
	}
}
