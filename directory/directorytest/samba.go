//go:build linux

package directorytest

// Samba runs a real Active Directory domain controller (Samba's AD DC)
// for tests: a domain provisioned with samba-tool under a temporary
// directory, served by samba in a network namespace made for the test
// (so its fixed ports, 389 and 636, clash with nothing), LDAPS and
// StartTLS with a certificate from a CA made for the test.
//
// Typical usage:
//
//	dc := directorytest.StartSamba(t, directorytest.SambaOptions{})
//	alice := dc.AddUser(t, "OU=Office,"+dc.BaseDN, "alice")
//	dc.AddMember(t, "CN=lic-archicad,OU=Office,"+dc.BaseDN, alice)
//	s := directory.New(directory.Config{URL: dc.URL, CAFile: dc.CAFile,
//		BindDN: dc.ReaderDN, PasswordFile: dc.ReaderPasswordFile,
//		BaseDN: dc.BaseDN, Preset: directory.PresetActiveDirectory}, nil)
//	s.Dial = dc.Dial // the DC is in its namespace
//	dc.Tool(t, "user", "disable", "alice")
//
// A missing samba (or no root for the namespace) fails the test under CI
// and skips it elsewhere. Debian: apt-get install samba samba-ad-dc
// samba-ad-provision, with a policy-rc.d that keeps the packages from
// starting their own daemons (.ci/apt.d/samba.txt).

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"
	"github.com/licgate/licgate/internal/netnstest"
	"github.com/licgate/licgate/internal/testnet"
)

// Where Debian installs Samba's AD DC.
const (
	SambaPath     = "/usr/sbin/samba"
	SambaToolPath = "/usr/bin/samba-tool"
)

// SambaOptions tune the domain controller.
type SambaOptions struct {
	// StartTimeout bounds provisioning plus start-up. If zero, 3 minutes
	// (provisioning takes 5 to 30 seconds, depending on the load).
	StartTimeout time.Duration
}

// Samba is a running AD domain controller. Its fields are read-only.
type Samba struct {
	Host   string // dc1.corp.example: the DC's name, in its certificate
	URL    string // ldaps://dc1.corp.example:636
	LDAP   string // ldap://dc1.corp.example:389 (StartTLS)
	Realm  string // CORP.EXAMPLE
	Domain string // CORP (NetBIOS)
	BaseDN string // DC=corp,DC=example
	CAFile string // PEM of the test CA that signed the DC's certificate
	// SambaCAFile is where Samba writes the CA of the self-signed
	// certificate it makes when none is configured (UseSambaCert).
	SambaCAFile string

	AdminDN, AdminPassword string // the domain's Administrator
	// ReaderDN is an ordinary domain user (CN=licgate,OU=Service
	// Accounts), which AD lets read users and groups; its password is in
	// ReaderPasswordFile.
	ReaderDN, ReaderPassword, ReaderPasswordFile string

	// Version is `samba --version`, e.g. "Version 4.17.12-Debian".
	Version string

	dir, conf string
	ns        *netnstest.NS
	tb        testing.TB
	timeout   time.Duration
	tls       *tls.Config
	cmd       *exec.Cmd
	stdin     io.Closer
	done      chan struct{}
}

// StartSamba provisions a domain and runs its DC until the test ends.
func StartSamba(tb testing.TB, opts SambaOptions) *Samba {
	tb.Helper()
	netnstest.Require(tb)
	for _, p := range []string{SambaPath, SambaToolPath} {
		if _, err := os.Stat(p); err != nil {
			testnet.Missing(tb, "samba AD DC not installed (%v): apt-get install samba samba-ad-dc samba-ad-provision", err)
		}
	}
	dir := tb.TempDir()
	s := &Samba{
		Host: "dc1.corp.example", Realm: "CORP.EXAMPLE", Domain: "CORP", BaseDN: "DC=corp,DC=example",
		AdminPassword:  "Adm1n-Secret!",
		ReaderPassword: "Read3r-Secret!",
		dir:            dir,
		conf:           filepath.Join(dir, "etc", "smb.conf"),
		tb:             tb,
		timeout:        opts.StartTimeout,
	}
	if s.timeout == 0 {
		s.timeout = 3 * time.Minute
	}
	s.URL, s.LDAP = "ldaps://"+s.Host+":636", "ldap://"+s.Host+":389"
	s.AdminDN = "CN=Administrator,CN=Users," + s.BaseDN
	s.ReaderDN = "CN=licgate,OU=Service Accounts," + s.BaseDN
	s.ReaderPasswordFile = filepath.Join(dir, "reader.pw")
	s.SambaCAFile = filepath.Join(dir, "private", "tls", "ca.pem")
	must(tb, os.WriteFile(s.ReaderPasswordFile, []byte(s.ReaderPassword+"\n"), 0o600))
	out, err := exec.Command(SambaPath, "--version").Output()
	must(tb, err)
	s.Version = strings.TrimSpace(string(out))

	tlsDir := filepath.Join(dir, "tls")
	must(tb, os.Mkdir(tlsDir, 0o700))
	s.CAFile = filepath.Join(tlsDir, "ca.pem")
	pool := writeDCCerts(tb, tlsDir, s.Host)
	s.tls = &tls.Config{RootCAs: pool, ServerName: s.Host}

	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	args := []string{"domain", "provision", "--use-rfc2307",
		"--realm=" + s.Realm, "--domain=" + s.Domain, "--host-name=dc1",
		"--server-role=dc", "--dns-backend=NONE", "--adminpass=" + s.AdminPassword,
		"--targetdir=" + dir,
	}
	for _, o := range []string{
		// Only the LDAP server: no SMB, Kerberos, DNS, NetBIOS or RPC.
		"server services = ldap",
		"interfaces = lo", "bind interfaces only = yes",
		"log file = " + filepath.Join(dir, "log.%m"),
		// Not /run/samba: two DCs (tests of two packages) at once.
		"pid directory = " + dir,
		"ncalrpc dir = " + filepath.Join(dir, "ncalrpc"),
		"winbindd socket directory = " + filepath.Join(dir, "winbindd"),
		"tls enabled = yes",
		"tls keyfile = " + filepath.Join(tlsDir, "key.pem"),
		"tls certfile = " + filepath.Join(tlsDir, "cert.pem"),
		"tls cafile = " + s.CAFile,
		// Test data, thrown away: no fsync.
		"ldb:nosync = true",
	} {
		args = append(args, "--option="+o)
	}
	start := time.Now()
	prov := exec.CommandContext(ctx, SambaToolPath, args...)
	prov.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with this process
	if out, err := prov.CombinedOutput(); err != nil {
		tb.Fatalf("samba-tool domain provision: %v\n%s", err, tail(out, 40))
	}
	tb.Logf("samba: provisioned %s in %v", s.Realm, time.Since(start).Round(time.Millisecond))

	s.ns = netnstest.New(tb, "samba") // its cleanup kills what still runs inside
	tb.Cleanup(s.Stop)
	s.Restart()

	a := s.Admin(tb)
	defer a.Close()
	s.add(tb, a, "OU=Service Accounts,"+s.BaseDN, map[string][]string{"objectClass": {"organizationalUnit"}})
	s.addUser(tb, a, s.ReaderDN, "licgate", s.ReaderPassword)
	return s
}

// Restart starts samba (again, after Stop) and waits until LDAPS answers
// a TLS handshake.
func (s *Samba) Restart() {
	tb := s.tb
	tb.Helper()
	// --interactive: in the foreground, logging to stdout, and exits at
	// EOF on its stdin (a pipe from this process) so that it dies with
	// this process.
	cmd := s.ns.Cmd(SambaPath, "--interactive", "--model=single", "--debuglevel=1", "--configfile="+s.conf,
		// Ends it even if this process is killed before its cleanup.
		fmt.Sprintf("--maximum-runtime=%d", int((s.timeout+10*time.Minute).Seconds())))
	cmd.Stdout = prefixLog{tb, "samba: "}
	cmd.Stderr = prefixLog{tb, "samba: "}
	stdin, err := cmd.StdinPipe()
	must(tb, err)
	must(tb, cmd.Start())
	s.cmd, s.stdin = cmd, stdin
	s.done = make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(s.done)

	deadline := time.Now().Add(s.timeout)
	for {
		err := s.probe()
		if err == nil {
			return
		}
		select {
		case <-s.done:
			tb.Fatalf("samba exited at start: %v", cmd.ProcessState)
		case <-time.After(50 * time.Millisecond): // polling an external process's port
		}
		if time.Now().After(deadline) {
			tb.Fatalf("samba not listening on 636 after %v: %v", s.timeout, err)
		}
	}
}

// probe does a TLS handshake on 636. Samba listens before it has loaded
// (or, with UseSambaCert, written) its certificate, so an open port is
// not yet an answer. The certificate is not checked: this only waits. A
// certificate Go cannot parse is an answer too: Samba's self-signed one
// often has a negative serial number, which crypto/x509 refuses.
func (s *Samba) probe() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := s.Dial(ctx, "tcp", s.Host+":636")
	if err != nil {
		return err
	}
	defer c.Close()
	err = tls.Client(c, &tls.Config{InsecureSkipVerify: true}).HandshakeContext(ctx)
	if err != nil && strings.Contains(err.Error(), "failed to parse certificate from server") {
		return nil // crypto/tls has no error type for it
	}
	return err
}

// Stop ends samba and waits for it; safe when already stopped.
func (s *Samba) Stop() {
	if s.cmd == nil {
		return
	}
	s.stdin.Close()
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// UseSambaCert restarts the DC with the self-signed certificate Samba
// makes itself when smb.conf names none (written to SambaCAFile and
// next to it at start).
func (s *Samba) UseSambaCert() {
	s.tb.Helper()
	s.Stop()
	b, err := os.ReadFile(s.conf)
	must(s.tb, err)
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "tls ") || strings.Contains(l, "tls enabled") {
			keep = append(keep, l)
		}
	}
	must(s.tb, os.WriteFile(s.conf, []byte(strings.Join(keep, "\n")), 0o644))
	s.Restart()
}

// Dial connects to the DC in its namespace: addr's host must be Host or
// 127.0.0.1. It is a directory.Syncer's Dial.
func (s *Samba) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(host, s.Host) && host != "127.0.0.1" {
		return nil, &net.DNSError{Err: "no such host (the test DC is " + s.Host + ")", Name: host, IsNotFound: true}
	}
	var c net.Conn
	s.ns.Do(func() {
		// An IP literal: the socket is made on this thread, in the namespace.
		c, err = (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
	})
	return c, err
}

// Tool runs samba-tool on the domain's database with args (for example
// "user", "disable", "alice") and returns its output.
func (s *Samba) Tool(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := exec.Command(SambaToolPath, append(args, "--configfile="+s.conf)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("samba-tool %s: %v\n%s", strings.Join(args, " "), err, tail(out, 20))
	}
	return string(out)
}

// Admin returns a connection bound as Administrator over LDAPS.
func (s *Samba) Admin(tb testing.TB) *ldap.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raw, err := s.Dial(ctx, "tcp", s.Host+":636")
	must(tb, err)
	tc := tls.Client(raw, s.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		tb.Fatalf("samba: LDAPS handshake: %v", err)
	}
	c := ldap.NewConn(tc, true)
	c.Start()
	c.SetTimeout(30 * time.Second)
	if err := c.Bind(s.AdminDN, s.AdminPassword); err != nil {
		c.Close()
		tb.Fatalf("samba: bind as %s: %v", s.AdminDN, err)
	}
	return c
}

// AddOU adds an organizational unit under the base DN and returns its DN.
func (s *Samba) AddOU(tb testing.TB, name string) string {
	tb.Helper()
	a := s.Admin(tb)
	defer a.Close()
	dn := "OU=" + ldap.EscapeDN(name) + "," + s.BaseDN
	s.add(tb, a, dn, map[string][]string{"objectClass": {"organizationalUnit"}})
	return dn
}

// AddUser adds an enabled user with sAMAccountName name, a password and
// a mail address under parent, and returns its DN.
func (s *Samba) AddUser(tb testing.TB, parent, name string) string {
	tb.Helper()
	return s.AddUsers(tb, parent, name)[0]
}

// AddUsers adds users as AddUser does, over one connection.
func (s *Samba) AddUsers(tb testing.TB, parent string, names ...string) []string {
	tb.Helper()
	a := s.Admin(tb)
	defer a.Close()
	dns := make([]string, len(names))
	for i, n := range names {
		dns[i] = "CN=" + ldap.EscapeDN(n) + "," + parent
		s.addUser(tb, a, dns[i], n, "Pw-"+n+"-1234!")
	}
	return dns
}

func (s *Samba) addUser(tb testing.TB, a *ldap.Conn, dn, name, password string) {
	tb.Helper()
	s.add(tb, a, dn, map[string][]string{
		"objectClass":       {"user"},
		"sAMAccountName":    {name},
		"userPrincipalName": {name + "@" + strings.ToLower(s.Realm)},
		"mail":              {name + "@corp.example"},
		"unicodePwd":        {unicodePwd(password)},
		// NORMAL_ACCOUNT, enabled: what "samba-tool user create" makes.
		"userAccountControl": {"512"},
	})
}

// AddGroup adds a global security group under parent, with members
// (DNs), and returns its DN.
func (s *Samba) AddGroup(tb testing.TB, parent, name string, members ...string) string {
	tb.Helper()
	a := s.Admin(tb)
	defer a.Close()
	dn := "CN=" + ldap.EscapeDN(name) + "," + parent
	attrs := map[string][]string{"objectClass": {"group"}, "sAMAccountName": {name}}
	if len(members) > 0 {
		attrs["member"] = members
	}
	s.add(tb, a, dn, attrs)
	return dn
}

// AddMember adds member (a user's or group's DN) to group.
func (s *Samba) AddMember(tb testing.TB, group, member string) {
	tb.Helper()
	a := s.Admin(tb)
	defer a.Close()
	r := ldap.NewModifyRequest(group, nil)
	r.Add("member", []string{member})
	if err := a.Modify(r); err != nil {
		tb.Fatalf("samba: add %s to %s: %v", member, group, err)
	}
}

func (s *Samba) add(tb testing.TB, a *ldap.Conn, dn string, attrs map[string][]string) {
	tb.Helper()
	r := ldap.NewAddRequest(dn, nil)
	for k, v := range attrs {
		r.Attribute(k, v)
	}
	if err := a.Add(r); err != nil {
		tb.Fatalf("samba: add %s: %v", dn, err)
	}
}

// unicodePwd is AD's password attribute value: the password in double
// quotes, UTF-16LE.
func unicodePwd(pw string) string {
	u := utf16.Encode([]rune(`"` + pw + `"`))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return string(b)
}

// writeDCCerts writes ca.pem, cert.pem and key.pem (0600, as Samba
// demands) for host and 127.0.0.1 into dir, and returns the CA as a pool.
// Unlike Samba's own self-signed certificate it has subjectAltNames, as
// a certificate from AD Certificate Services does.
func writeDCCerts(tb testing.TB, dir, host string) *x509.CertPool {
	tb.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(tb, err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "corp.example test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(tb, err)
	ca, err := x509.ParseCertificate(caDER)
	must(tb, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(tb, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{host}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	must(tb, err)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	must(tb, err)
	for _, f := range []struct {
		name, typ string
		der       []byte
	}{{"ca.pem", "CERTIFICATE", caDER}, {"cert.pem", "CERTIFICATE", der}, {"key.pem", "PRIVATE KEY", kder}} {
		must(tb, os.WriteFile(filepath.Join(dir, f.name), pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600))
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool
}

// tail returns the last n lines of out.
func tail(out []byte, n int) string {
	lines := bytes.Split(bytes.TrimRight(out, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

type prefixLog struct {
	tb     testing.TB
	prefix string
}

func (l prefixLog) Write(p []byte) (int, error) {
	l.tb.Log(l.prefix + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
