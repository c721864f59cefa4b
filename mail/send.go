package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/licgate/licgate/internal/boundedfile"
	"github.com/licgate/licgate/internal/secretfile"
)

// Send errors, wrapped with the server's answer.
var (
	ErrPasswordFile = errors.New("mail: cannot read password file")
	ErrConnect      = errors.New("mail: cannot reach SMTP server")
	ErrTLS          = errors.New("mail: TLS refused or failed")
	ErrAuth         = errors.New("mail: authentication failed")
	ErrRecipient    = errors.New("mail: recipient refused")
	ErrSender       = errors.New("mail: sender refused")
	ErrRejected     = errors.New("mail: message refused")
	ErrProtocol     = errors.New("mail: SMTP conversation failed")
)

// Sender sends mail through one SMTP server. It holds no connection
// between calls; Send may be called from several goroutines.
type Sender struct {
	cfg Config
	log *slog.Logger

	// Dial opens the TCP connection. If nil, a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now stamps the Date header. If nil, time.Now.
	Now func() time.Time
}

// New returns a Sender for cfg, which should have passed Validate. It
// does not connect. A nil logger discards.
func New(cfg Config, logger *slog.Logger) *Sender {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Sender{cfg: cfg, log: logger}
}

// Send delivers msg to the server, which takes it from there. All
// recipients must be accepted or nothing is sent. Errors wrap ErrConnect,
// ErrTLS, ErrAuth, ErrSender, ErrRecipient (naming the address),
// ErrRejected or ErrProtocol, with the server's reply.
func (s *Sender) Send(ctx context.Context, msg Message) error {
	c := s.cfg
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return fmt.Errorf("%w: %q: %w", ErrBadFrom, c.From, err)
	}
	if len(msg.To) == 0 {
		return fmt.Errorf("%w: no recipients", ErrBadRecipient)
	}
	var to []*mail.Address
	for _, t := range msg.To {
		a, err := mail.ParseAddress(t)
		if err != nil || strings.ContainsAny(t, "\r\n") {
			return fmt.Errorf("%w: %q", ErrBadRecipient, t)
		}
		to = append(to, a)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	data, err := build(from, to, msg, now())
	if err != nil {
		return err
	}
	var password string
	if c.User != "" {
		if password, err = secretfile.Read(c.PasswordFile); err != nil {
			return fmt.Errorf("%w: %w", ErrPasswordFile, err)
		}
	}
	tc, err := s.tlsConfig()
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	err = s.converse(ctx, from, to, password, tc, data)
	if err != nil && ctx.Err() != nil {
		// The connection was closed under the conversation; say why.
		return fmt.Errorf("%w (gave up: %w)", err, context.Cause(ctx))
	}
	return err
}

// converse runs one SMTP conversation from dial to QUIT.
func (s *Sender) converse(ctx context.Context, from *mail.Address, to []*mail.Address, password string, tc *tls.Config, data []byte) error {
	c := s.cfg
	dial := s.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	addr := c.addr()
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrConnect, addr, err)
	}
	defer conn.Close()
	// net/smtp takes no context: a deadline on the connection bounds
	// every read and write, and ctx's end closes it.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	if c.security() == SecurityTLS {
		tconn := tls.Client(conn, tc)
		if err := tconn.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrTLS, addr, err)
		}
		conn = tconn
	}
	cl, err := smtp.NewClient(conn, c.Host)
	if err != nil {
		return fmt.Errorf("%w: greeting from %s: %w", ErrConnect, addr, err)
	}
	defer cl.Close()
	if err := cl.Hello(c.heloName()); err != nil {
		return fmt.Errorf("%w: EHLO: %w", ErrProtocol, err)
	}
	if c.security() == SecurityStartTLS {
		if ok, _ := cl.Extension("STARTTLS"); !ok {
			return fmt.Errorf("%w: %s does not offer STARTTLS (security: starttls)", ErrTLS, addr)
		}
		if err := cl.StartTLS(tc); err != nil {
			return fmt.Errorf("%w: STARTTLS with %s: %w", ErrTLS, addr, err)
		}
	}
	if c.User != "" {
		if ok, _ := cl.Extension("AUTH"); !ok {
			return fmt.Errorf("%w: %s offers no AUTH (user %q is set)", ErrAuth, addr, c.User)
		}
		if err := cl.Auth(smtp.PlainAuth("", c.User, password, c.Host)); err != nil {
			return fmt.Errorf("%w: as %q: %w", ErrAuth, c.User, err)
		}
	}
	if err := cl.Mail(from.Address); err != nil {
		return fmt.Errorf("%w: MAIL FROM %s: %w", classify(err, ErrSender), from.Address, err)
	}
	for _, a := range to {
		if err := cl.Rcpt(a.Address); err != nil {
			return fmt.Errorf("%w: %s: %w", classify(err, ErrRecipient), a.Address, err)
		}
	}
	w, err := cl.Data()
	if err != nil {
		return fmt.Errorf("%w: DATA: %w", classify(err, ErrRejected), err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("%w: sending message: %w", ErrProtocol, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("%w: after DATA: %w", classify(err, ErrRejected), err)
	}
	if err := cl.Quit(); err != nil {
		// The message was accepted at the end of DATA; a failed QUIT
		// does not undo that.
		s.log.Debug("smtp QUIT failed", slog.Any("err", err))
	}
	s.log.Info("mail sent", slog.String("server", addr), slog.Int("recipients", len(to)))
	return nil
}

// classify returns as for a server's 4xx/5xx reply, ErrProtocol for
// anything else (a broken connection, a time-out).
func classify(err error, as error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 400 {
		return as
	}
	return ErrProtocol
}

func (s *Sender) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12}
	if s.cfg.CAFile != "" {
		pem, err := boundedfile.Read(s.cfg.CAFile, boundedfile.PEM)
		if err != nil {
			return nil, fmt.Errorf("%w: ca_file: %w", ErrTLS, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: ca_file %s holds no PEM certificate", ErrTLS, s.cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}
