// Package directorytest runs a real OpenLDAP slapd for tests: on a
// loopback port, with its own configuration and database in a temporary
// directory, StartTLS with a CA made for the test, and the memberof,
// refint and ppolicy overlays loaded.
//
// Typical usage:
//
//	d := directorytest.Start(t, directorytest.Options{})
//	d.Add(t, "uid=alice,ou=people,"+d.BaseDN, map[string][]string{
//		"objectClass": {"inetOrgPerson"}, "uid": {"alice"}, "cn": {"Alice"}, "sn": {"A"},
//	})
//	cfg := directory.Config{URL: d.URL, CAFile: d.CAFile, BindDN: d.ReaderDN,
//		PasswordFile: d.ReaderPasswordFile, BaseDN: d.BaseDN}
//
// A missing slapd fails the test under CI and skips it elsewhere
// (testnet.Missing). Debian: apt-get install slapd ldap-utils, with a
// policy-rc.d that keeps the package from starting its own daemon.
//
// On Linux, StartSamba runs a real Active Directory domain controller
// (Samba's) in a network namespace: see samba.go.
package directorytest

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/licgate/licgate/internal/testnet"
)

// SlapdPath is where Debian installs slapd.
const SlapdPath = "/usr/sbin/slapd"

// Options tune the server.
type Options struct {
	// SizeLimit is slapd's sizelimit (entries per search for everyone
	// but the rootdn). If zero, slapd's default (500).
	SizeLimit int
}

// Slapd is a running server. Its fields are read-only.
type Slapd struct {
	URL    string // ldap://127.0.0.1:port (StartTLS)
	LDAPS  string // ldaps://127.0.0.1:port (TLS from the start)
	CAFile string // PEM of the CA that signed the server's certificate
	BaseDN string // dc=example,dc=org, with ou=people and ou=groups

	AdminDN, AdminPassword string // rootdn
	// ReaderDN can read everything; its password is in ReaderPasswordFile.
	ReaderDN, ReaderPassword, ReaderPasswordFile string

	dir   string
	conf  string
	addr  string
	addrs string
	tb    testing.TB
	cmd   *exec.Cmd
	done  chan struct{}
	tls   *tls.Config
}

// Start runs slapd until the test ends.
func Start(tb testing.TB, opts Options) *Slapd {
	tb.Helper()
	if _, err := os.Stat(SlapdPath); err != nil {
		testnet.Missing(tb, "slapd not installed (%v): apt-get install slapd ldap-utils", err)
	}
	dir := tb.TempDir()
	s := &Slapd{
		BaseDN:         "dc=example,dc=org",
		AdminDN:        "cn=admin,dc=example,dc=org",
		AdminPassword:  "admin-secret",
		ReaderDN:       "cn=reader,dc=example,dc=org",
		ReaderPassword: "reader-secret",
		dir:            dir,
		tb:             tb,
	}
	s.ReaderPasswordFile = filepath.Join(dir, "reader.pw")
	s.CAFile = filepath.Join(dir, "ca.pem")
	pool := testnet.WriteCerts(tb, dir, "directorytest CA")
	s.tls = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	must(tb, os.WriteFile(s.ReaderPasswordFile, []byte(s.ReaderPassword+"\n"), 0o600))
	must(tb, os.Mkdir(filepath.Join(dir, "db"), 0o700))

	s.addr, s.addrs = freeAddr(tb), freeAddr(tb)
	s.URL, s.LDAPS = "ldap://"+s.addr, "ldaps://"+s.addrs

	limit := ""
	if opts.SizeLimit > 0 {
		limit = fmt.Sprintf("sizelimit %d\n", opts.SizeLimit)
	}
	s.conf = filepath.Join(dir, "slapd.conf")
	must(tb, os.WriteFile(s.conf, []byte(fmt.Sprintf(slapdConf, dir, limit, s.BaseDN, s.AdminDN, s.AdminPassword)), 0o600))

	tb.Cleanup(s.Stop) // also when Restart gives up
	s.Restart()

	a := s.Admin(tb)
	defer a.Close()
	for _, e := range []struct {
		dn    string
		attrs map[string][]string
	}{
		{s.BaseDN, map[string][]string{"objectClass": {"dcObject", "organization"}, "dc": {"example"}, "o": {"Example"}}},
		{s.ReaderDN, map[string][]string{"objectClass": {"organizationalRole", "simpleSecurityObject"}, "cn": {"reader"}, "userPassword": {s.ReaderPassword}}},
		{"ou=people," + s.BaseDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"people"}}},
		{"ou=groups," + s.BaseDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"groups"}}},
	} {
		s.add(tb, a, e.dn, e.attrs)
	}
	return s
}

const slapdConf = `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
moduleload refint
moduleload ppolicy
pidfile %[1]s/slapd.pid
argsfile %[1]s/slapd.args
TLSCACertificateFile %[1]s/ca.pem
TLSCertificateFile %[1]s/server.pem
TLSCertificateKeyFile %[1]s/server.key
%[2]s
database mdb
suffix "%[3]s"
rootdn "%[4]s"
rootpw %[5]s
directory %[1]s/db
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
overlay memberof
memberof-refint true
overlay refint
refint_attributes member
overlay ppolicy
`

// Restart starts slapd (again, after Stop) on the same port and database,
// and waits until it accepts connections.
func (s *Slapd) Restart() {
	tb := s.tb
	tb.Helper()
	cmd := exec.Command(SlapdPath, "-f", s.conf, "-h", s.URL+"/ "+s.LDAPS+"/", "-d", "0")
	cmd.Stdout = tlog{tb}
	cmd.Stderr = tlog{tb}
	must(tb, cmd.Start())
	s.cmd = cmd
	s.done = make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(s.done)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if listening(s.addr) && listening(s.addrs) {
			return
		}
		select {
		case <-s.done:
			tb.Fatalf("slapd exited at start: %v", cmd.ProcessState)
		case <-time.After(20 * time.Millisecond): // polling an external process's port
		}
		if time.Now().After(deadline) {
			tb.Fatalf("slapd not listening on %s after 15s", s.addr)
		}
	}
}

// Stop kills slapd and waits for it; safe when already stopped.
func (s *Slapd) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Admin returns a connection bound as the rootdn over StartTLS.
func (s *Slapd) Admin(tb testing.TB) *ldap.Conn {
	tb.Helper()
	c, err := ldap.DialURL(s.URL)
	must(tb, err)
	must(tb, c.StartTLS(s.tls))
	must(tb, c.Bind(s.AdminDN, s.AdminPassword))
	return c
}

// Add adds an entry as the rootdn.
func (s *Slapd) Add(tb testing.TB, dn string, attrs map[string][]string) {
	tb.Helper()
	a := s.Admin(tb)
	defer a.Close()
	s.add(tb, a, dn, attrs)
}

func (s *Slapd) add(tb testing.TB, a *ldap.Conn, dn string, attrs map[string][]string) {
	tb.Helper()
	r := ldap.NewAddRequest(dn, nil)
	for k, v := range attrs {
		r.Attribute(k, v)
	}
	if err := a.Add(r); err != nil {
		tb.Fatalf("add %s: %v", dn, err)
	}
}

// Replace sets attribute attr of dn to values (none deletes it).
func (s *Slapd) Replace(tb testing.TB, dn, attr string, values ...string) {
	tb.Helper()
	a := s.Admin(tb)
	defer a.Close()
	r := ldap.NewModifyRequest(dn, nil)
	r.Replace(attr, values)
	if err := a.Modify(r); err != nil {
		tb.Fatalf("modify %s %s: %v", dn, attr, err)
	}
}

// Delete removes dn (refint then drops it from groups' member lists).
func (s *Slapd) Delete(tb testing.TB, dn string) {
	tb.Helper()
	a := s.Admin(tb)
	defer a.Close()
	if err := a.Del(ldap.NewDelRequest(dn, nil)); err != nil {
		tb.Fatalf("delete %s: %v", dn, err)
	}
}

func listening(addr string) bool {
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
	}
	return err == nil
}

func freeAddr(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(tb, err)
	defer ln.Close()
	return ln.Addr().String()
}

type tlog struct{ tb testing.TB }

func (l tlog) Write(p []byte) (int, error) {
	l.tb.Log("slapd: " + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
