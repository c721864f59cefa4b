package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/tunnel"

	"github.com/licgate/licgate/gateway/gatewaytest"
	"github.com/licgate/licgate/mail/mailtest"
)

// TestInviteByMail: users imported from a CSV, invited through a real SMTP
// server (Mailpit); the delivered message's link opens the enrolment
// page on the public listener and enrols a device whose profile takes a
// seat. Without smtp the links are printed and written to a CSV.
func TestInviteByMail(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	mp := mailtest.Start(t, mailtest.Options{})
	h := gatewaytest.New(t, gatewaytest.TopLevel(fmt.Sprintf("public:\n  listen: 127.0.0.1:0\n  name: office.example.test\n  acme: {directory: \"off\"}\n"+
		"smtp:\n  host: 127.0.0.1\n  port: %d\n  security: none\n  from: \"Example Architects IT <it@example.test>\"\n", mp.Port)))
	sock := "-socket=" + h.Config.Socket
	csvIn := filepath.Join(t.TempDir(), "users.csv")
	os.WriteFile(csvIn, []byte("name,email,groups\nalice,alice@example.test,cad;admins\nbob,bob@example.test,cad\n"), 0o600)
	if out, code := cli(t, "user", "import", csvIn, sock); code != 0 || !strings.Contains(out, "2 users added") || !strings.Contains(out, "cad: [alice, bob]") {
		t.Fatalf("user import: %d %s", code, out)
	}
	if out, code := cli(t, "invite", "alice", "nobody", "-c", h.ConfigPath, sock); code != 1 || !strings.Contains(out, `no user "nobody"`) {
		t.Fatalf("unknown user: %d %s", code, out)
	}
	if n := len(mp.Messages(t)); n != 0 {
		t.Fatalf("%d messages sent although the command was refused", n)
	}
	if out, code := cli(t, "invite", "alice", "--device", "laptop", "-c", h.ConfigPath, sock); code != 0 || !strings.Contains(out, "invitation sent to alice@example.test") {
		t.Fatalf("invite: %d %s", code, out)
	}
	msgs := mp.Messages(t)
	if len(msgs) != 1 {
		t.Fatalf("%d messages delivered", len(msgs))
	}
	// The parts are quoted-printable: decode before looking for the link.
	decoded, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(msgs[0])))
	link := regexp.MustCompile(`https://office\.example\.test:\d+/enroll/[A-Za-z0-9_-]+`).FindString(string(decoded))
	if link == "" || !strings.Contains(string(msgs[0]), "alice@example.test") {
		t.Fatalf("no link in the message:\n%s", msgs[0])
	}
	// Follow the link as the home user's browser would.
	root, err := h.GW.CARoot()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(root)
	addr := h.GW.PublicAddr().String()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "office.example.test"},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
	defer client.CloseIdleConnections()
	resp, err := client.PostForm(link, url.Values{"action": {"generate"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`href="(/enroll/[^"]+\.conf)"`).FindSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("enrolment page %d:\n%s", resp.StatusCode, page)
	}
	resp, err = client.Get("https://office.example.test" + string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	conf, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	p, err := tunnel.ParseProfile(string(conf))
	if err != nil {
		t.Fatalf("downloaded profile: %v\n%s", err, conf)
	}
	h.StartClient("alice", "laptop", p).TakeSeat(t).Close()

	// Without smtp: printed and written to a CSV (0600: the links are secrets).
	noMail := filepath.Join(t.TempDir(), "licgate.yaml")
	os.WriteFile(noMail, []byte(strings.Split(readFile(t, h.ConfigPath), "smtp:")[0]), 0o600)
	csvOut := filepath.Join(t.TempDir(), "links.csv")
	out, code := cli(t, "invite", "bob", "-c", noMail, sock, "--csv", csvOut)
	if code != 0 || !strings.Contains(out, "bob\tbob@example.test\thttps://office.example.test") {
		t.Fatalf("invite without smtp: %d %s", code, out)
	}
	st, err := os.Stat(csvOut)
	if err != nil || st.Mode().Perm() != 0o600 || !strings.Contains(readFile(t, csvOut), "bob,bob@example.test,https://") {
		t.Fatalf("links CSV: %v %v", st, err)
	}
	if len(mp.Messages(t)) != 1 {
		t.Fatal("a message was sent without smtp")
	}
}

func readFile(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestInviteAllSkipsEnrolled: invite --all (no smtp: links printed)
// leaves out users who already have a device, and never prints a link for
// one without an e-mail address (the admin setup enrolled), even with
// --force; --force invites the others who have a device.
func TestInviteAllSkipsEnrolled(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t, gatewaytest.TopLevel("public:\n  listen: 127.0.0.1:0\n  name: office.example.test\n  acme: {directory: \"off\"}\n"))
	sock := "-socket=" + h.Config.Socket
	for _, u := range [][]string{{"it"}, {"alice", "--email", "alice@example.test"}, {"bob", "--email", "bob@example.test"}, {"carol"}} {
		if out, code := cli(t, append(append([]string{"user", "add"}, u...), sock)...); code != 0 {
			t.Fatalf("user add %v: %d %s", u, code, out)
		}
	}
	for _, u := range []string{"it", "alice"} {
		if out, code := cli(t, "device", "add", u, "laptop", "--out", filepath.Join(t.TempDir(), u), sock); code != 0 {
			t.Fatalf("device add %s: %d %s", u, code, out)
		}
	}
	linked := func(out, user string) bool {
		return regexp.MustCompile(`(?m)^` + user + `\t[^\t]*\thttps://`).MatchString(out)
	}
	out, code := cli(t, "invite", "--all", "-c", h.ConfigPath, sock)
	if code != 0 {
		t.Fatalf("invite --all: %d %s", code, out)
	}
	for user, want := range map[string]bool{"it": false, "alice": false, "bob": true, "carol": true} {
		if linked(out, user) != want {
			t.Errorf("invite --all: link for %s: %v, want %v\n%s", user, !want, want, out)
		}
	}
	if !strings.Contains(out, "it: has 1 device(s) and no e-mail address: no link") || !strings.Contains(out, "alice: has 1 device(s) already, left out") {
		t.Errorf("invite --all does not say who was left out:\n%s", out)
	}
	out, code = cli(t, "invite", "--all", "--force", "-c", h.ConfigPath, sock)
	if code != 0 || linked(out, "it") || !linked(out, "alice") {
		t.Errorf("invite --all --force: %d\n%s", code, out)
	}
}
