// Package ddnstest runs real DNS servers for tests: BIND9 (Debian's named)
// on loopback with a TSIG key and a dynamic zone, and small miekg/dns
// stand-ins for public-address echo services.
//
// Typical usage:
//
//	b := ddnstest.StartBIND(t, "example.test")
//	u := &ddns.RFC2136{Server: b.Addr, Zone: b.Zone, KeyName: b.KeyName, Secret: b.Secret}
package ddnstest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/licgate/licgate/internal/testnet"
)

// Need skips the test when a program is missing, unless CI is set: there a
// missing dependency is a failure.
func Need(tb testing.TB, prog string) string {
	tb.Helper()
	p, err := exec.LookPath(prog)
	if err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		if _, err := os.Stat(filepath.Join(dir, prog)); err == nil {
			return filepath.Join(dir, prog)
		}
	}
	testnet.Missing(tb, "%s is not installed (CI installs it: see .ci/run)", prog)
	return ""
}

// BIND is a running named.
type BIND struct {
	Addr    string // 127.0.0.1:port, UDP and TCP
	Zone    string
	KeyName string
	Secret  string
	Dir     string
	log     *bytes.Buffer
}

// FreePort returns a port free for both UDP and TCP on 127.0.0.1.
func FreePort(tb testing.TB) int {
	tb.Helper()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	tb.Fatal("no free port")
	return 0
}

// StartBIND starts named serving zone (primary, dynamic updates allowed
// with a fresh hmac-sha256 key) on a free loopback port. It stops in
// tb's cleanup.
func StartBIND(tb testing.TB, zone string) *BIND {
	tb.Helper()
	named := Need(tb, "named")
	dir := tb.TempDir()
	os.Chmod(dir, 0o777) // named may drop privileges; keep its journal writable
	secret := make([]byte, 32)
	rand.Read(secret)
	b := &BIND{Zone: zone, KeyName: "ddns-key.", Secret: base64.StdEncoding.EncodeToString(secret), Dir: dir, log: &bytes.Buffer{}}
	port := FreePort(tb)
	b.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	conf := fmt.Sprintf(`options {
	directory "%[1]s";
	pid-file none;
	listen-on port %[2]d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	allow-query { any; };
	notify no;
	session-keyfile none;
};
controls { };
key "%[3]s" { algorithm hmac-sha256; secret "%[4]s"; };
zone "%[5]s" {
	type primary;
	file "%[1]s/zone.db";
	allow-update { key "%[3]s"; };
};
`, dir, port, b.KeyName, b.Secret, zone)
	zoneFile := fmt.Sprintf(`$TTL 60
@ IN SOA ns.%[1]s. hostmaster.%[1]s. ( 1 60 60 3600 60 )
@ IN NS ns.%[1]s.
ns IN A 127.0.0.1
`, zone)
	if err := os.WriteFile(filepath.Join(dir, "named.conf"), []byte(conf), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "zone.db"), []byte(zoneFile), 0o666); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(named, "-g", "-n", "1", "-c", filepath.Join(dir, "named.conf"))
	cmd.Stdout, cmd.Stderr = b.log, b.log
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if tb.Failed() {
			tb.Logf("named log:\n%s", b.log.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(zone), dns.TypeSOA)
		c := &dns.Client{Timeout: 300 * time.Millisecond}
		if r, _, err := c.Exchange(m, b.Addr); err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0 {
			return b
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("named did not start serving %s on %s:\n%s", zone, b.Addr, b.log.String())
	return nil
}

// Server is a miekg/dns server on loopback answering with handler.
type Server struct {
	Addr string
	srv  *dns.Server
}

// StartServer serves handler on UDP and TCP on a free loopback port.
func StartServer(tb testing.TB, handler dns.HandlerFunc) *Server {
	tb.Helper()
	port := FreePort(tb)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s := &Server{Addr: addr}
	for _, netw := range []string{"udp", "tcp"} {
		started := make(chan struct{})
		srv := &dns.Server{Addr: addr, Net: netw, Handler: handler, NotifyStartedFunc: func() { close(started) },
			MsgAcceptFunc: func(dns.Header) dns.MsgAcceptAction { return dns.MsgAccept }}
		go srv.ListenAndServe()
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			tb.Fatalf("dns stand-in did not start on %s/%s", addr, netw)
		}
		tb.Cleanup(func() { srv.Shutdown() })
		if netw == "udp" {
			s.srv = srv
		}
	}
	return s
}

// NeedRoot skips the test unless it runs as root (network namespaces),
// and fails it under CI, where tests run as root.
func NeedRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		testnet.Missing(tb, "needs root (network namespaces)")
	}
}
