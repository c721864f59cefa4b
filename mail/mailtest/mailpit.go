// Package mailtest runs a real SMTP server for tests: Mailpit
// (github.com/axllent/mailpit), on loopback ports, with its HTTP API to
// read back what was delivered.
//
// Typical usage:
//
//	m := mailtest.Start(t, mailtest.Options{STARTTLS: true, User: "licgate", Password: "pw"})
//	cfg := mail.Config{Host: "127.0.0.1", Port: m.Port, CAFile: m.CAFile, User: m.User,
//		PasswordFile: m.PasswordFile, From: "it@example.org"}
//	... send ...
//	raw := m.Messages(t) // each message as delivered, RFC 5322 bytes
//
// Mailpit is found on PATH or in $(go env GOPATH)/bin (CI installs it
// with go install, pinned: see .ci/setup.d). A missing mailpit fails the
// test under CI and skips it elsewhere (testnet.Missing).
package mailtest

import (
	"encoding/json"
	"fmt"
	"go/build"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/internal/testnet"
)

// Options choose the server's behaviour.
type Options struct {
	// STARTTLS offers STARTTLS and requires it before MAIL.
	STARTTLS bool
	// ImplicitTLS speaks TLS from the first byte (port 465 style).
	ImplicitTLS bool
	// User and Password, when set, make AUTH required; without TLS,
	// Mailpit is told to allow AUTH PLAIN in the clear.
	User, Password string
	// AllowedRecipients is a regular expression; other recipients get a
	// 550 at RCPT TO.
	AllowedRecipients string
}

// Mailpit is a running server. Its fields are read-only.
type Mailpit struct {
	Port         int    // SMTP, on 127.0.0.1
	CAFile       string // PEM of the CA behind the TLS certificate (for 127.0.0.1 and localhost)
	User         string
	PasswordFile string // holds Password and a newline
	api          string
	cmd          *exec.Cmd
	done         chan struct{}
}

// Binary returns mailpit's path, or "" when it is not installed.
func Binary() string {
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p
	}
	p := filepath.Join(build.Default.GOPATH, "bin", "mailpit")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// Start runs Mailpit until the test ends.
func Start(tb testing.TB, opts Options) *Mailpit {
	tb.Helper()
	bin := Binary()
	if bin == "" {
		testnet.Missing(tb, "mailpit not installed: go install github.com/axllent/mailpit@v1.33.1")
	}
	dir := tb.TempDir()
	m := &Mailpit{User: opts.User}
	smtpAddr, apiAddr := freeAddr(tb), freeAddr(tb)
	_, port, _ := net.SplitHostPort(smtpAddr)
	fmt.Sscan(port, &m.Port)
	m.api = "http://" + apiAddr

	args := []string{
		"--smtp", smtpAddr, "--listen", apiAddr,
		"--database", filepath.Join(dir, "mailpit.db"),
		"--disable-version-check", "--smtp-disable-rdns", "--quiet",
	}
	if opts.STARTTLS || opts.ImplicitTLS {
		m.CAFile = filepath.Join(dir, "ca.pem")
		testnet.WriteCerts(tb, dir, "mailtest CA")
		args = append(args, "--smtp-tls-cert", filepath.Join(dir, "server.pem"), "--smtp-tls-key", filepath.Join(dir, "server.key"))
		if opts.ImplicitTLS {
			args = append(args, "--smtp-require-tls")
		} else {
			args = append(args, "--smtp-require-starttls")
		}
	}
	if opts.User != "" {
		m.PasswordFile = filepath.Join(dir, "smtp.pw")
		must(tb, os.WriteFile(m.PasswordFile, []byte(opts.Password+"\n"), 0o600))
		auth := filepath.Join(dir, "auth")
		must(tb, os.WriteFile(auth, []byte(opts.User+":"+opts.Password+"\n"), 0o600))
		args = append(args, "--smtp-auth-file", auth)
		if !opts.STARTTLS && !opts.ImplicitTLS {
			args = append(args, "--smtp-auth-allow-insecure")
		}
	}
	if opts.AllowedRecipients != "" {
		args = append(args, "--smtp-allowed-recipients", opts.AllowedRecipients)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = tlog{tb}, tlog{tb}
	must(tb, cmd.Start())
	m.cmd, m.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(m.done) }()
	tb.Cleanup(m.stop)

	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get(m.api + "/readyz"); err == nil {
			resp.Body.Close()
			if c, err := net.Dial("tcp", smtpAddr); resp.StatusCode == 200 && err == nil {
				c.Close()
				return m
			}
		}
		select {
		case <-m.done:
			tb.Fatalf("mailpit exited at start: %v", cmd.ProcessState)
		case <-time.After(20 * time.Millisecond): // polling an external process's ports
		}
		if time.Now().After(deadline) {
			tb.Fatal("mailpit not ready after 20s")
		}
	}
}

func (m *Mailpit) stop() {
	m.cmd.Process.Kill()
	<-m.done
}

// Messages returns every delivered message, oldest first, as raw RFC
// 5322 bytes.
func (m *Mailpit) Messages(tb testing.TB) [][]byte {
	tb.Helper()
	var list struct {
		Messages []struct{ ID string }
	}
	getJSON(tb, m.api+"/api/v1/messages", &list)
	var out [][]byte
	for i := len(list.Messages) - 1; i >= 0; i-- { // the API lists newest first
		out = append(out, get(tb, m.api+"/api/v1/message/"+list.Messages[i].ID+"/raw"))
	}
	return out
}

func get(tb testing.TB, url string) []byte {
	tb.Helper()
	resp, err := http.Get(url)
	must(tb, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(tb, err)
	if resp.StatusCode != 200 {
		tb.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return b
}

func getJSON(tb testing.TB, url string, v any) {
	tb.Helper()
	must(tb, json.Unmarshal(get(tb, url), v))
}

func freeAddr(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(tb, err)
	defer ln.Close()
	return ln.Addr().String()
}

type tlog struct{ tb testing.TB }

func (l tlog) Write(p []byte) (int, error) {
	l.tb.Log("mailpit: " + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
