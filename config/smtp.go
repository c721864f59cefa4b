package config

import (
	"errors"
	"path/filepath"
	"strings"

	"github.com/licgate/licgate/mail"

	"github.com/licgate/licgate/internal/confval"
)

// SMTPConfig sends enrolment links by e-mail through the office's mail
// server (`licgate invite`). Without it, links are printed and written to
// a CSV for IT to send.
type SMTPConfig struct {
	// Host of the SMTP server. Empty: no e-mail.
	Host string `yaml:"host"`
	// Port. If zero, 587 (starttls), 465 (tls) or 25 (none).
	Port int `yaml:"port"`
	// Security: starttls (default), tls, or none (a server on this machine only).
	Security string `yaml:"security"`
	// CAFile the server's certificate must chain to; empty: the system's.
	CAFile string `yaml:"ca_file"`
	// User and PasswordFile (relative to this file) for AUTH; empty User sends without.
	User         string `yaml:"user"`
	PasswordFile string `yaml:"password_file"`
	// From is the sender, e.g. "Office IT <it@example.com>". Required with host.
	From string `yaml:"from"`
	// Organization names the office in the message ("Example Architects").
	// If empty, the From name.
	Organization string `yaml:"organization"`
	// Contact is who home users ask for help (an address or a phone number).
	Contact string `yaml:"contact"`
	// Timeout for one message. If empty, 30s.
	Timeout confval.Duration `yaml:"timeout"`
}

func (c *Config) validateSMTP() error {
	s := &c.SMTP
	if s.Host == "" {
		return nil
	}
	if s.PasswordFile != "" && !filepath.IsAbs(s.PasswordFile) {
		s.PasswordFile = filepath.Join(filepath.Dir(c.file), s.PasswordFile)
	}
	if s.Organization == "" {
		s.Organization = s.From
		if i := strings.Index(s.From, "<"); i > 0 {
			s.Organization = strings.TrimSpace(s.From[:i])
		}
	}
	if err := confval.Positive(&s.Timeout, 30e9); err != nil {
		return c.at("smtp.timeout", "%v", err)
	}
	if err := mail.Validate(c.MailConfig()); err != nil {
		// mail's errors name its fields; point at the block.
		key := "smtp"
		for _, k := range []struct {
			err error
			key string
		}{{mail.ErrNoHost, "host"}, {mail.ErrBadPort, "port"}, {mail.ErrBadFrom, "from"}, {mail.ErrBadSecurity, "security"}, {mail.ErrNoPassword, "password_file"}, {mail.ErrInsecure, "security"}} {
			if errors.Is(err, k.err) {
				key = "smtp." + k.key
			}
		}
		return c.at(key, "%v", err)
	}
	return nil
}

// MailConfig is the mail package's config for smtp (zero Host: none).
func (c *Config) MailConfig() mail.Config {
	s := c.SMTP
	return mail.Config{Host: s.Host, Port: s.Port, Security: s.Security, CAFile: s.CAFile, User: s.User,
		PasswordFile: s.PasswordFile, From: s.From, Timeout: s.Timeout.Duration}
}
