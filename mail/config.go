package mail

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strings"
	"time"
)

// Security modes.
const (
	SecurityStartTLS = "starttls" // plain connect, then STARTTLS (required, never skipped); port 587
	SecurityTLS      = "tls"      // TLS from the first byte ("SMTPS"); port 465
	SecurityNone     = "none"     // no TLS at all: loopback relays only; port 25
)

// Validation errors, wrapped with detail by Validate.
var (
	ErrNoHost       = errors.New("mail: smtp host is required")
	ErrBadPort      = errors.New("mail: smtp port out of range")
	ErrBadSecurity  = errors.New("mail: security must be starttls, tls or none")
	ErrInsecure     = errors.New("mail: security none is only allowed for a loopback host")
	ErrNoPassword   = errors.New("mail: user needs a password_file")
	ErrBadFrom      = errors.New("mail: bad from address")
	ErrBadTimeout   = errors.New("mail: bad timeout")
	ErrBadHeloName  = errors.New("mail: bad helo name")
	ErrBadRecipient = errors.New("mail: bad recipient address")
)

// Config says how to reach the SMTP server that sends licgate's mail.
type Config struct {
	// Host is the SMTP server's name (also checked in its certificate).
	// Required.
	Host string
	// Port. If zero, 587 for starttls, 465 for tls, 25 for none.
	Port int
	// Security is "starttls", "tls" or "none" (loopback hosts only). If
	// empty, "starttls".
	Security string
	// CAFile is a PEM bundle the server's certificate must chain to. If
	// empty, the system roots.
	CAFile string
	// User to authenticate as (AUTH PLAIN); empty sends without AUTH.
	User string
	// PasswordFile holds User's password (one trailing newline dropped),
	// read at each Send. Required with User.
	PasswordFile string
	// From is the sender, "Office IT <it@example.com>" or a bare address.
	// Required.
	From string
	// HeloName is the name sent in EHLO. If empty, "localhost".
	HeloName string
	// Timeout bounds one Send (connect to QUIT). If zero, 30s.
	Timeout time.Duration
}

func (c Config) security() string {
	if c.Security == "" {
		return SecurityStartTLS
	}
	return c.Security
}

func (c Config) port() int {
	if c.Port != 0 {
		return c.Port
	}
	switch c.security() {
	case SecurityTLS:
		return 465
	case SecurityNone:
		return 25
	}
	return 587
}

func (c Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return 30 * time.Second
	}
	return c.Timeout
}

func (c Config) heloName() string {
	if c.HeloName == "" {
		return "localhost"
	}
	return c.HeloName
}

func (c Config) addr() string {
	return net.JoinHostPort(c.Host, fmt.Sprint(c.port()))
}

// Validate checks c without touching the network or the file system and
// returns every problem found, each wrapping one of the Err* sentinels.
// Host names are not resolved: "none" is allowed only for "localhost" and
// loopback IP addresses.
func Validate(c Config) error {
	var errs []error
	if c.Host == "" {
		errs = append(errs, ErrNoHost)
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("%w: %d", ErrBadPort, c.Port))
	}
	switch c.security() {
	case SecurityStartTLS, SecurityTLS:
	case SecurityNone:
		if c.Host != "" && !isLoopback(c.Host) {
			errs = append(errs, fmt.Errorf("%w: host %q", ErrInsecure, c.Host))
		}
	default:
		errs = append(errs, fmt.Errorf("%w: got %q", ErrBadSecurity, c.Security))
	}
	if c.User != "" && c.PasswordFile == "" {
		errs = append(errs, ErrNoPassword)
	}
	if c.From == "" {
		errs = append(errs, fmt.Errorf("%w: from is required", ErrBadFrom))
	} else if _, err := mail.ParseAddress(c.From); err != nil || strings.ContainsAny(c.From, "\r\n") {
		errs = append(errs, fmt.Errorf("%w: %q", ErrBadFrom, c.From))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%w: %v", ErrBadTimeout, c.Timeout))
	}
	if c.HeloName != "" && strings.ContainsAny(c.HeloName, " \r\n\t") {
		errs = append(errs, fmt.Errorf("%w: %q", ErrBadHeloName, c.HeloName))
	}
	return errors.Join(errs...)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
