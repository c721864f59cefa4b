package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
)

// Message is one e-mail with a plain-text and an HTML body. Both are
// sent as multipart/alternative (the HTML last, so clients that can show
// it do); an empty HTML sends text/plain alone.
type Message struct {
	To      []string // addresses, "Name <addr>" or bare
	Subject string   // any Unicode; encoded as RFC 2047 when needed
	Text    string
	HTML    string
}

// header builds a header value set; all values are checked for CR/LF
// by the caller.
type header struct{ keys, vals []string }

func (h *header) add(k, v string) { h.keys, h.vals = append(h.keys, k), append(h.vals, v) }

// build renders msg as an RFC 5322 message with CRLF line ends. from
// and to are already parsed.
func build(from *mail.Address, to []*mail.Address, msg Message, now time.Time) ([]byte, error) {
	if strings.ContainsAny(msg.Subject, "\r\n") {
		return nil, fmt.Errorf("mail: subject contains a line break")
	}
	var h header
	h.add("From", from.String())
	tos := make([]string, len(to))
	for i, a := range to {
		tos[i] = a.String()
	}
	h.add("To", strings.Join(tos, ", "))
	h.add("Subject", mime.QEncoding.Encode("utf-8", msg.Subject))
	h.add("Date", now.Format(time.RFC1123Z))
	h.add("Message-ID", messageID(from.Address))
	h.add("MIME-Version", "1.0")

	var body bytes.Buffer
	if msg.HTML == "" {
		h.add("Content-Type", "text/plain; charset=utf-8")
		h.add("Content-Transfer-Encoding", "quoted-printable")
		if err := writeQP(&body, msg.Text); err != nil {
			return nil, err
		}
	} else {
		mw := multipart.NewWriter(&body)
		h.add("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
		for _, p := range []struct{ ctype, text string }{
			{"text/plain; charset=utf-8", msg.Text},
			{"text/html; charset=utf-8", msg.HTML},
		} {
			w, err := mw.CreatePart(textproto.MIMEHeader{
				"Content-Type":              {p.ctype},
				"Content-Transfer-Encoding": {"quoted-printable"},
			})
			if err != nil {
				return nil, err
			}
			if err := writeQP(w, p.text); err != nil {
				return nil, err
			}
		}
		if err := mw.Close(); err != nil {
			return nil, err
		}
	}
	var out bytes.Buffer
	for i, k := range h.keys {
		out.WriteString(fold(k+": "+h.vals[i]) + "\r\n")
	}
	out.WriteString("\r\n")
	out.Write(body.Bytes())
	return out.Bytes(), nil
}

// writeQP writes s quoted-printable with CRLF line ends.
func writeQP(w io.Writer, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := io.WriteString(qp, strings.ReplaceAll(s, "\r\n", "\n")); err != nil {
		return err
	}
	return qp.Close()
}

// messageID returns <random@domain of addr>.
func messageID(addr string) string {
	domain := "licgate.invalid"
	if i := strings.LastIndexByte(addr, '@'); i >= 0 && i < len(addr)-1 {
		domain = addr[i+1:]
	}
	var b [16]byte
	rand.Read(b[:])
	return "<" + hex.EncodeToString(b[:]) + "@" + domain + ">"
}

// fold breaks a header line at spaces so that lines stay within 78
// characters where possible (RFC 5322 2.1.1); a word longer than that
// stays whole (the hard limit is 998).
func fold(line string) string {
	var b strings.Builder
	n := 0
	for i, w := range strings.Split(line, " ") {
		if i > 0 {
			if n+1+len(w) > 78 {
				b.WriteString("\r\n")
				n = 0
			}
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}
