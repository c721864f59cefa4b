package mail

import (
	"bytes"
	"encoding/csv"
	"errors"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	ok := Config{Host: "smtp.example.org", From: "IT <it@example.org>", User: "u", PasswordFile: "/pw"}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want []error
	}{
		{"ok", func(c *Config) {}, nil},
		{"tls", func(c *Config) { c.Security = SecurityTLS }, nil},
		{"none loopback", func(c *Config) { c.Security, c.Host = SecurityNone, "127.0.0.1" }, nil},
		{"none localhost", func(c *Config) { c.Security, c.Host = SecurityNone, "localhost" }, nil},
		{"none ::1", func(c *Config) { c.Security, c.Host = SecurityNone, "::1" }, nil},
		{"none remote", func(c *Config) { c.Security = SecurityNone }, []error{ErrInsecure}},
		{"none private", func(c *Config) { c.Security, c.Host = SecurityNone, "192.168.1.5" }, []error{ErrInsecure}},
		{"security", func(c *Config) { c.Security = "ssl" }, []error{ErrBadSecurity}},
		{"no host", func(c *Config) { c.Host = "" }, []error{ErrNoHost}},
		{"port", func(c *Config) { c.Port = 70000 }, []error{ErrBadPort}},
		{"password", func(c *Config) { c.PasswordFile = "" }, []error{ErrNoPassword}},
		{"no from", func(c *Config) { c.From = "" }, []error{ErrBadFrom}},
		{"bad from", func(c *Config) { c.From = "it at example" }, []error{ErrBadFrom}},
		{"helo", func(c *Config) { c.HeloName = "a b" }, []error{ErrBadHeloName}},
		{"two", func(c *Config) { c.Host, c.From = "", "" }, []error{ErrNoHost, ErrBadFrom}},
	} {
		c := ok
		tc.mod(&c)
		err := Validate(c)
		if tc.want == nil && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		for _, w := range tc.want {
			if !errors.Is(err, w) {
				t.Errorf("%s: %v, want %v", tc.name, err, w)
			}
		}
	}
	for sec, port := range map[string]int{"": 587, SecurityStartTLS: 587, SecurityTLS: 465, SecurityNone: 25} {
		if p := (Config{Security: sec}).port(); p != port {
			t.Errorf("%q: port %d, want %d", sec, p, port)
		}
	}
}

func TestBuildRefusesHeaderInjection(t *testing.T) {
	from, _ := mail.ParseAddress("it@example.org")
	to, _ := mail.ParseAddress("a@example.org")
	_, err := build(from, []*mail.Address{to}, Message{Subject: "hi\r\nBcc: eve@example.org", Text: "x"}, time.Now())
	if err == nil {
		t.Error("subject with CRLF accepted")
	}
	s := New(Config{Host: "127.0.0.1", Security: SecurityNone, From: "it@example.org"}, nil)
	err = s.Send(t.Context(), Message{To: []string{"a@example.org\r\nBcc: eve@example.org"}, Text: "x"})
	if !errors.Is(err, ErrBadRecipient) {
		t.Errorf("recipient with CRLF: %v", err)
	}
}

func TestBuildLongLinesAndUnicode(t *testing.T) {
	from, _ := mail.ParseAddress("Jürgen <it@example.org>")
	to, _ := mail.ParseAddress("a@example.org")
	long := strings.Repeat("ä", 200) + " https://example.org/" + strings.Repeat("x", 300)
	subject := strings.TrimSpace(strings.Repeat("Grüße aus dem Büro ", 12))
	b, err := build(from, []*mail.Address{to}, Message{Subject: subject, Text: long, HTML: "<p>" + long + "</p>"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); got != subject {
		t.Errorf("subject read back as %q (%v)", got, err)
	}
	for i, line := range strings.Split(string(b), "\r\n") {
		if len(line) > 78 || strings.ContainsRune(line, '\n') {
			t.Errorf("line %d: %d bytes: %q", i, len(line), line)
		}
		for _, r := range line {
			if r > 127 {
				t.Fatalf("line %d not 7-bit: %q", i, line)
			}
		}
	}
}

func TestInvitationChecks(t *testing.T) {
	good := InvitationData{To: "a@example.org", Organization: "Office", Link: "https://vpn.example.org/e/abc", Expires: time.Now().Add(time.Hour)}
	for _, tc := range []struct {
		name string
		mod  func(*InvitationData)
		ok   bool
	}{
		{"good", func(d *InvitationData) {}, true},
		{"loopback http", func(d *InvitationData) { d.Link = "http://127.0.0.1:8080/e/abc" }, true},
		{"remote http", func(d *InvitationData) { d.Link = "http://vpn.example.org/e/abc" }, false},
		{"javascript", func(d *InvitationData) { d.Link = "javascript:alert(1)" }, false},
		{"relative", func(d *InvitationData) { d.Link = "/e/abc" }, false},
		{"no expiry", func(d *InvitationData) { d.Expires = time.Time{} }, false},
		{"no org", func(d *InvitationData) { d.Organization = "" }, false},
		{"crlf name", func(d *InvitationData) { d.Name = "A\r\nBcc: x" }, false},
	} {
		d := good
		tc.mod(&d)
		_, err := Invitation(d)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadInvitation)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	d := good
	d.Name, d.Organization = `<script>alert("x")</script>`, "A & B"
	m, err := Invitation(d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<script>") || !strings.Contains(m.HTML, "&lt;script&gt;") || !strings.Contains(m.HTML, "A &amp; B") {
		t.Errorf("html not escaped:\n%s", m.HTML)
	}
	if !strings.Contains(m.Text, `Hello <script>alert("x")</script>,`) {
		t.Errorf("text part altered the name:\n%s", m.Text)
	}
	for _, a := range Apps {
		if !strings.Contains(m.Text, a.URL) || !strings.Contains(m.HTML, `href="`+a.URL+`"`) {
			t.Errorf("%s app missing", a.OS)
		}
	}
}

func TestWriteCSV(t *testing.T) {
	in := []Invite{
		{"Anna Schäfer", "anna@example.org", "https://vpn.example.org/e/1?a=1&b=2"},
		{`Müller, "Max"`, "max@example.org", "https://vpn.example.org/e/2"},
		{"two\nlines", "x@example.org", "https://vpn.example.org/e/3"},
		{"=HYPERLINK(\"http://evil\")", "+1@example.org", "https://vpn.example.org/e/4"},
	}
	var b bytes.Buffer
	if err := WriteCSV(&b, in); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "name,email,link\r\n") || !strings.Contains(b.String(), `"Müller, ""Max"""`) {
		t.Errorf("csv:\n%s", b.String())
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"name", "email", "link"},
		{"Anna Schäfer", "anna@example.org", "https://vpn.example.org/e/1?a=1&b=2"},
		{`Müller, "Max"`, "max@example.org", "https://vpn.example.org/e/2"},
		{"two\nlines", "x@example.org", "https://vpn.example.org/e/3"},
		{"'=HYPERLINK(\"http://evil\")", "'+1@example.org", "https://vpn.example.org/e/4"},
	}
	if !slices.EqualFunc(rows, want, slices.Equal) {
		t.Errorf("read back %q", rows)
	}
}
