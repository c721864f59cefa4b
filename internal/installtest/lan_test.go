package installtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/licgate/licgate/internal/netnstest"
	"github.com/licgate/licgate/internal/testnet"
	"github.com/licgate/licgate/mail/mailtest"
	"github.com/licgate/licgate/portmap/portmaptest"
)

// writeServerCert makes a CA and a certificate for name signed by it, as
// PEM files in dir: ca.pem, server.pem, server.key. The office's mail
// server has a certificate its machines trust; here the test's CA goes
// into the office machine's trust store.
func writeServerCert(t *testing.T, dir, name string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "installtest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	mustWrite(t, caFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})), 0o644)
	mustWrite(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o644)
	mustWrite(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})), 0o600)
	return caFile, certFile, keyFile
}

// mailServer is Mailpit on a LAN host: SMTP with STARTTLS required on
// addr:587, as an office's mail server, and its API on the host's
// loopback, read through sockets opened in its namespace.
type mailServer struct {
	api  *http.Client
	done chan struct{}
}

func startMailServer(t *testing.T, ns *netnstest.NS, addr, certFile, keyFile string) *mailServer {
	t.Helper()
	bin := mailtest.Binary()
	if bin == "" {
		testnet.Missing(t, "mailpit not installed: go install github.com/axllent/mailpit@v1.33.1 (.ci/setup.d/30-dirmail.sh)")
	}
	dir := t.TempDir()
	cmd := ns.Cmd(bin, "--smtp", net.JoinHostPort(addr, "587"), "--listen", "127.0.0.1:8025",
		"--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile, "--smtp-require-starttls",
		"--database", filepath.Join(dir, "mailpit.db"), "--disable-version-check", "--smtp-disable-rdns", "--quiet")
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := &mailServer{done: make(chan struct{}),
		api: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: portmaptest.Dial(ns)}}}
	go func(c *exec.Cmd) { c.Wait(); close(m.done) }(cmd)
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-m.done
		if t.Failed() {
			t.Logf("mailpit log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := m.api.Get("http://127.0.0.1:8025/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return m
			}
		}
		select {
		case <-m.done:
			t.Fatalf("mailpit exited at start:\n%s", logs.String())
		case <-time.After(20 * time.Millisecond): // polling another process's port
		}
		if time.Now().After(deadline) {
			t.Fatal("mailpit not ready after 20s")
		}
	}
}

// Messages returns the delivered messages, oldest first, raw.
func (m *mailServer) Messages(t *testing.T) [][]byte {
	t.Helper()
	var list struct {
		Messages []struct{ ID string }
	}
	if err := json.Unmarshal(m.get(t, "/api/v1/messages"), &list); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for i := len(list.Messages) - 1; i >= 0; i-- {
		out = append(out, m.get(t, "/api/v1/message/"+list.Messages[i].ID+"/raw"))
	}
	return out
}

func (m *mailServer) get(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := m.api.Get("http://127.0.0.1:8025" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("mailpit %s: %v %s: %s", path, err, resp.Status, b)
	}
	return b
}

// nsHTTPClient is an HTTP client (a browser) whose connections start in ns.
func nsHTTPClient(ns *netnstest.NS, tr *http.Transport) *http.Client {
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return portmaptest.Dial(ns)(ctx, network, addr)
	}
	return &http.Client{Timeout: 20 * time.Second, Transport: tr}
}
