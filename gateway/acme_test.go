package gateway_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/ddns"
	"github.com/licgate/licgate/ddns/ddnstest"
	"github.com/licgate/licgate/gateway"
	"github.com/licgate/licgate/gateway/gatewaytest"
	"github.com/licgate/licgate/internal/testnet"
)

type pebble struct {
	dir, mgmt  string
	minica     string // trust for Pebble's own API
	httpPort   int
	tlsPort    int
	issuerPool *x509.CertPool
}

func findPebble(t *testing.T) (bin, certs string) {
	bin, err := exec.LookPath("pebble")
	if err != nil {
		gopath, _ := exec.Command("go", "env", "GOPATH").Output()
		cand := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "pebble")
		if _, err := os.Stat(cand); err == nil {
			bin = cand
		}
	}
	modcache, _ := exec.Command("go", "env", "GOMODCACHE").Output()
	certs = filepath.Join(strings.TrimSpace(string(modcache)), "github.com/letsencrypt/pebble/v2@v2.10.1/test/certs")
	if _, err := os.Stat(certs); bin == "" || err != nil {
		testnet.Missing(t, "pebble is not installed: go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.1 (CI does)")
	}
	return bin, certs
}

// startPebble runs Pebble on loopback, resolving names through dnsServer.
func startPebble(t *testing.T, dnsServer string) *pebble {
	bin, certs := findPebble(t)
	p := &pebble{minica: filepath.Join(certs, "pebble.minica.pem"), httpPort: ddnstest.FreePort(t), tlsPort: ddnstest.FreePort(t)}
	listen, mgmt := ddnstest.FreePort(t), ddnstest.FreePort(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress": fmt.Sprintf("127.0.0.1:%d", listen), "managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mgmt),
		"certificate": filepath.Join(certs, "localhost/cert.pem"), "privateKey": filepath.Join(certs, "localhost/key.pem"),
		"httpPort": p.httpPort, "tlsPort": p.tlsPort, "ocspResponderURL": "", "externalAccountBindingRequired": false,
	}}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(t.TempDir(), "pebble.json")
	os.WriteFile(cfgPath, b, 0o644)
	cmd := exec.Command(bin, "-config", cfgPath, "-dnsserver", dnsServer)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("pebble log:\n%s", logs.String())
		}
	})
	p.dir = fmt.Sprintf("https://127.0.0.1:%d/dir", listen)
	p.mgmt = fmt.Sprintf("https://127.0.0.1:%d", mgmt)
	pemData, _ := os.ReadFile(p.minica)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemData)
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if resp, err := hc.Get(p.dir); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not start:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := hc.Get(p.mgmt + "/roots/0") // the issuing root, for the served chain
	if err != nil {
		t.Fatal(err)
	}
	root, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	p.issuerPool = x509.NewCertPool()
	if !p.issuerPool.AppendCertsFromPEM(root) {
		t.Fatalf("pebble root: %q", root)
	}
	return p
}

// served connects to the public listener and returns the leaf it serves
// for name, verified against pool.
func served(t *testing.T, g *gateway.Gateway, name string, pool *x509.CertPool) *x509.Certificate {
	t.Helper()
	c, err := tls.Dial("tcp", g.PublicAddr().String(), &tls.Config{ServerName: name, RootCAs: pool})
	if err != nil {
		t.Fatalf("TLS to the public listener: %v", err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

// servedACME waits (up to a minute) until the public listener serves a
// certificate that pool verifies, and returns its leaf.
func servedACME(t *testing.T, g *gateway.Gateway, name string, pool *x509.CertPool) *x509.Certificate {
	t.Helper()
	var last error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		c, err := tls.Dial("tcp", g.PublicAddr().String(), &tls.Config{ServerName: name, RootCAs: pool})
		if err != nil {
			last = err
			continue
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0]
	}
	t.Fatalf("the ACME certificate was never served: %v", last)
	return nil
}

func TestACMEWithPebble(t *testing.T) {
	b := ddnstest.StartBIND(t, "example.test")
	// The office name resolves to loopback, where the challenges are answered.
	rfc := &ddns.RFC2136{Server: b.Addr, Zone: b.Zone, KeyName: b.KeyName, Secret: b.Secret}
	if err := rfc.Update(context.Background(), "office.example.test", netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	pb := startPebble(t, b.Addr)
	for _, challenge := range []string{"http-01", "tls-alpn-01", "dns-01"} {
		t.Run(challenge, func(t *testing.T) {
			gatewaytest.CheckLeaks(t, gatewaytest.ACMELibraryGoroutines...)
			extra := ""
			if challenge == "dns-01" {
				extra = fmt.Sprintf(`ddns:
  host: office.example.test
  interval: 1h
  sources: [{type: http, url4: "http://127.0.0.1:9/"}]
  providers:
    - {name: office-dns, type: rfc2136, server: %q, zone: example.test, key_name: %q, secret: %q}
`, b.Addr, b.KeyName, b.Secret)
			}
			h := gatewaytest.New(t, gatewaytest.TopLevel(fmt.Sprintf(`public:
  listen: 127.0.0.1:0
  name: office.example.test
  acme:
    directory: %s
    email: it@example.test
    ca_root_file: %s
    challenges: [%s]
    dns_provider: office-dns
    dns_resolvers: [%q]
    http_port: %d
    tls_alpn_port: %d
    listen_host: 127.0.0.1
%s`, pb.dir, pb.minica, challenge, b.Addr, pb.httpPort, pb.tlsPort, extra)))
			// ACME works in the background; the internal CA's certificate
			// is served until Pebble's is there.
			leaf := servedACME(t, h.GW, "office.example.test", pb.issuerPool)
			if challenge != "http-01" {
				return
			}
			// Renewal when forced: a new certificate from Pebble is served.
			if err := h.GW.RenewPublicCert(context.Background(), true); err != nil {
				t.Fatal(err)
			}
			renewed := served(t, h.GW, "office.example.test", pb.issuerPool)
			if renewed.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
				t.Fatal("forced renewal served the same certificate")
			}
		})
	}
}

// TestACMEDownFallsBackToInternalCA: with the ACME server unreachable,
// the public listener still serves HTTPS, with licgate's internal CA.
func TestACMEDownFallsBackToInternalCA(t *testing.T) {
	gatewaytest.CheckLeaks(t, gatewaytest.ACMELibraryGoroutines...)
	dead := ddnstest.FreePort(t) // nothing listens there: "Pebble is down"
	h := gatewaytest.New(t, gatewaytest.TopLevel(fmt.Sprintf("public:\n  listen: 127.0.0.1:0\n  name: office.example.test\n  acme:\n    directory: https://127.0.0.1:%d/dir\n    http_port: %d\n    tls_alpn_port: %d\n    listen_host: 127.0.0.1\n",
		dead, ddnstest.FreePort(t), ddnstest.FreePort(t))))
	root, err := h.GW.CARoot()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(root)
	leaf := served(t, h.GW, "office.example.test", pool)
	if leaf.Issuer.CommonName != "licgate internal CA" || time.Until(leaf.NotAfter) > 8*24*time.Hour {
		t.Fatalf("fallback certificate: issuer %q, expires %s", leaf.Issuer.CommonName, leaf.NotAfter)
	}
}
