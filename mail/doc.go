// Package mail sends licgate's e-mail, chiefly the enrolment invitation
// ("links instead of files": a home user gets a single-use link rather
// than a profile attached to a message).
//
// A Sender speaks SMTP to one server: STARTTLS on 587 (required, never
// silently skipped), TLS from the first byte on 465, or no TLS at all for a
// relay on loopback only. It authenticates with AUTH PLAIN when a user is
// set, reading the password file at each Send so it can be rotated. Every
// message is MIME: multipart/alternative with a text/plain and a text/html
// part (quoted-printable, UTF-8), an RFC 2047 Subject, Date and
// Message-ID. Errors say which step failed: ErrConnect, ErrTLS, ErrAuth,
// ErrSender, ErrRecipient (naming the address), ErrRejected, ErrProtocol.
//
// Invitation renders the invitation from html/template and text/template:
// which official WireGuard app to install on each system, what the link
// does, when it expires. WriteCSV writes name,email,link rows for offices
// without an SMTP server.
//
// Typical usage:
//
//	cfg := mail.Config{Host: "smtp.office.example", User: "licgate",
//		PasswordFile: "/etc/licgate/smtp.pw", From: "Office IT <it@office.example>"}
//	if err := mail.Validate(cfg); err != nil { ... }
//	msg, err := mail.Invitation(mail.InvitationData{To: "anna@office.example", Name: "Anna",
//		Organization: "Office", Link: link, Expires: expires})
//	err = mail.New(cfg, logger).Send(ctx, msg)
//
// Tests deliver to a real Mailpit (package mailtest) and read the message
// back through its API.
//
// This package imports nothing else from licgate.
package mail
