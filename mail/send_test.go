package mail_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/mail"
	"github.com/licgate/licgate/mail/mailtest"
	"go.uber.org/goleak"
)

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func logger(t *testing.T) *slog.Logger { return slog.New(slog.NewTextHandler(tWriter{t}, nil)) }

func config(m *mailtest.Mailpit, security string) mail.Config {
	return mail.Config{
		Host: "127.0.0.1", Port: m.Port, Security: security, CAFile: m.CAFile,
		User: m.User, PasswordFile: m.PasswordFile, From: "Büro IT <it@buero.example>", Timeout: 10 * time.Second,
	}
}

func noLeaks(t *testing.T) { t.Cleanup(func() { goleak.VerifyNone(t) }) } // first registered, runs after the server stops

var link = "https://vpn.buero.example/enroll?token=Zq9-x_1&lang=de"

func invitation(t *testing.T) mail.Message {
	t.Helper()
	msg, err := mail.Invitation(mail.InvitationData{
		To: "Anna Schäfer <anna@buero.example>", Name: "Anna", Organization: "Büro Müller & Partner",
		Link: link, Expires: time.Date(2026, 12, 7, 17, 0, 0, 0, time.UTC), Contact: "it@buero.example",
	})
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// parts parses a delivered message the way a mail client would and
// returns its headers and its decoded parts by media type.
func parts(t *testing.T, raw []byte) (*netmail.Message, map[string]string) {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	out := map[string]string{}
	var order []string
	r := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := r.NextPart() // undoes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pt, pp, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if pp["charset"] != "utf-8" {
			t.Errorf("%s charset %q", pt, pp["charset"])
		}
		b, _ := io.ReadAll(p)
		out[pt] = string(b)
		order = append(order, pt)
	}
	if strings.Join(order, ",") != "text/plain,text/html" {
		t.Errorf("parts %v, want plain then html", order)
	}
	return m, out
}

func TestMailpitInvitationOverSTARTTLS(t *testing.T) {
	noLeaks(t)
	m := mailtest.Start(t, mailtest.Options{STARTTLS: true, User: "licgate", Password: "s3cret"})
	before := time.Now().Add(-time.Second)
	if err := mail.New(config(m, mail.SecurityStartTLS), logger(t)).Send(context.Background(), invitation(t)); err != nil {
		t.Fatal(err)
	}
	msgs := m.Messages(t)
	if len(msgs) != 1 {
		t.Fatalf("%d messages delivered", len(msgs))
	}
	h, body := parts(t, msgs[0])

	dec := new(mime.WordDecoder)
	subj, err := dec.DecodeHeader(h.Header.Get("Subject"))
	if err != nil || subj != "Büro Müller & Partner: your access to the license server from home" {
		t.Errorf("Subject %q (%v), raw %q", subj, err, h.Header.Get("Subject"))
	}
	if from, err := h.Header.AddressList("From"); err != nil || from[0].Name != "Büro IT" || from[0].Address != "it@buero.example" {
		t.Errorf("From %v %v", from, err)
	}
	if to, err := h.Header.AddressList("To"); err != nil || to[0].Name != "Anna Schäfer" || to[0].Address != "anna@buero.example" {
		t.Errorf("To %v %v", to, err)
	}
	if d, err := h.Header.Date(); err != nil || d.Before(before) || time.Since(d) > time.Minute {
		t.Errorf("Date %q: %v", h.Header.Get("Date"), err)
	}
	if id := h.Header.Get("Message-ID"); !regexp.MustCompile(`^<[0-9a-f]{32}@buero\.example>$`).MatchString(id) {
		t.Errorf("Message-ID %q", id)
	}
	if h.Header.Get("MIME-Version") != "1.0" {
		t.Errorf("MIME-Version %q", h.Header.Get("MIME-Version"))
	}

	text, html := body["text/plain"], body["text/html"]
	for _, want := range []string{"Hello Anna,", link, "expires on Monday, 7 December 2026, 17:00 UTC",
		"https://play.google.com/store/apps/details?id=com.wireguard.android", "Questions: it@buero.example"} {
		if !strings.Contains(text, want) {
			t.Errorf("text part lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{`<a href="https://vpn.buero.example/enroll?token=Zq9-x_1&amp;lang=de">`,
		"Büro Müller &amp; Partner invites you", `<a href="https://apps.apple.com/app/wireguard/id1451685025">`,
		"<strong>Monday, 7 December 2026, 17:00 UTC</strong>"} {
		if !strings.Contains(html, want) {
			t.Errorf("html part lacks %q:\n%s", want, html)
		}
	}
}

func TestMailpitImplicitTLSAndPlainLoopback(t *testing.T) {
	noLeaks(t)
	for _, tc := range []struct {
		security string
		opts     mailtest.Options
	}{
		{mail.SecurityTLS, mailtest.Options{ImplicitTLS: true, User: "u", Password: "p"}},
		{mail.SecurityNone, mailtest.Options{}},
	} {
		m := mailtest.Start(t, tc.opts)
		cfg := config(m, tc.security)
		if err := mail.Validate(cfg); err != nil {
			t.Fatal(err)
		}
		msg := mail.Message{To: []string{"bob@buero.example"}, Subject: "plain", Text: "only text\nsecond line"}
		if err := mail.New(cfg, logger(t)).Send(context.Background(), msg); err != nil {
			t.Fatalf("%s: %v", tc.security, err)
		}
		got := m.Messages(t)
		if len(got) != 1 {
			t.Fatalf("%s: %d messages", tc.security, len(got))
		}
		h, err := netmail.ReadMessage(bytes.NewReader(got[0]))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(quotedprintable.NewReader(h.Body))
		// SMTP's DATA ends the message with a line break.
		if ct := h.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" || string(b) != "only text\r\nsecond line\r\n" {
			t.Errorf("%s: %q %q", tc.security, ct, b)
		}
	}
}

func TestMailpitErrors(t *testing.T) {
	noLeaks(t)
	ctx := context.Background()
	msg := mail.Message{To: []string{"anna@buero.example"}, Subject: "x", Text: "x", HTML: "<p>x</p>"}

	m := mailtest.Start(t, mailtest.Options{STARTTLS: true, User: "licgate", Password: "s3cret", AllowedRecipients: `@buero\.example$`})
	cfg := config(m, mail.SecurityStartTLS)
	cfg.PasswordFile = filepath.Join(t.TempDir(), "wrong")
	os.WriteFile(cfg.PasswordFile, []byte("wrong\n"), 0o600)
	if err := mail.New(cfg, logger(t)).Send(ctx, msg); !errors.Is(err, mail.ErrAuth) || !strings.Contains(err.Error(), `"licgate"`) {
		t.Errorf("wrong password: %v", err)
	}

	cfg = config(m, mail.SecurityStartTLS)
	other := mailtest.Start(t, mailtest.Options{STARTTLS: true}) // its CA did not sign m's certificate
	cfg.CAFile = other.CAFile
	if err := mail.New(cfg, logger(t)).Send(ctx, msg); !errors.Is(err, mail.ErrTLS) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("unknown CA: %v", err)
	}

	cfg = config(m, mail.SecurityStartTLS)
	bad := msg
	bad.To = []string{"anna@buero.example", "eve@elsewhere.example"}
	if err := mail.New(cfg, logger(t)).Send(ctx, bad); !errors.Is(err, mail.ErrRecipient) || !strings.Contains(err.Error(), "eve@elsewhere.example") {
		t.Errorf("refused recipient: %v", err)
	}
	if n := len(m.Messages(t)); n != 0 {
		t.Errorf("%d messages delivered after errors", n)
	}

	plain := mailtest.Start(t, mailtest.Options{})
	if err := mail.New(config(plain, mail.SecurityStartTLS), logger(t)).Send(ctx, msg); !errors.Is(err, mail.ErrTLS) || !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Errorf("no STARTTLS offered: %v", err)
	}

	// The TLS server answers a plain greeting with a handshake: never hang.
	tlsOnly := mailtest.Start(t, mailtest.Options{ImplicitTLS: true})
	cfg = config(tlsOnly, mail.SecurityStartTLS)
	cfg.Timeout = 2 * time.Second
	err := mail.New(cfg, logger(t)).Send(ctx, msg)
	if !errors.Is(err, mail.ErrConnect) {
		t.Errorf("starttls against an implicit-TLS port: %v", err)
	}
	t.Logf("starttls against an implicit-TLS port: %v", err)
}

func TestSendConnectRefused(t *testing.T) {
	cfg := mail.Config{Host: "127.0.0.1", Port: 1, Security: mail.SecurityNone, From: "it@buero.example"}
	err := mail.New(cfg, nil).Send(context.Background(), mail.Message{To: []string{"a@b.example"}, Text: "x"})
	if !errors.Is(err, mail.ErrConnect) {
		t.Errorf("closed port: %v", err)
	}
}
