// Package gatewaytest runs a whole licgate gateway in one call for tests:
// the stand-in license server, the gateway on the netstack tunnel over
// loopback UDP, and home devices as in-process WireGuard clients built from
// the very profiles the gateway hands out.
//
// Typical usage:
//
//	func TestX(t *testing.T) {
//		gatewaytest.CheckLeaks(t)
//		h := gatewaytest.New(t, gatewaytest.Seats(3))
//		dev := h.AddDevice("alice", "laptop")
//		lc := dev.TakeSeat(t)
//		...
//	}
package gatewaytest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licgate/licgate/config"

	"go.uber.org/goleak"

	"github.com/licgate/licgate/gateway"
	"github.com/licgate/licgate/internal/licsim"
	"github.com/licgate/licgate/tunnel"
)

// CheckLeaks fails the test if goroutines started during it are still
// running after every cleanup. Call it first, so its check runs last.
func CheckLeaks(tb testing.TB, extra ...goleak.Option) {
	tb.Helper()
	ignore := goleak.IgnoreCurrent()
	// certmagic's file-lock keeper notices its lock is gone on its next
	// 5 s tick and ends then: not a leak.
	opts := append([]goleak.Option{ignore, goleak.IgnoreAnyFunction("github.com/caddyserver/certmagic.keepLockfileFresh")}, extra...)
	tb.Cleanup(func() { goleak.VerifyNone(tb, opts...) })
}

// ACMELibraryGoroutines are process-wide goroutines of certmagic's ACME
// client (a rate limiter per CA account, idle keep-alive connections to
// the CA) that outlive any one gateway by design.
var ACMELibraryGoroutines = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/caddyserver/certmagic.(*RingBufferRateLimiter).loop"),
	goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
	goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
	goleak.IgnoreAnyFunction("net/http.(*http2ClientConn).readLoop"),
}

// Logger returns a logger writing to tb.Log. The level comes from
// $LICGATE_TEST_LOG (debug, info, warn, error; default warn).
func Logger(tb testing.TB) *slog.Logger {
	var level slog.Level = slog.LevelWarn
	if v := os.Getenv("LICGATE_TEST_LOG"); v != "" {
		level.UnmarshalText([]byte(v))
	}
	w := &tbWriter{tb: tb}
	tb.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type tbWriter struct {
	mu   sync.Mutex
	tb   testing.TB
	done bool
}

func (w *tbWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.tb.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *tbWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// Option changes the harness.
type Option func(*options)

type options struct {
	seats    int
	upstream string
	extra    string
	idle     time.Duration
	policy   string
	clock    func() time.Time
	topLevel string
	gw       []gateway.Option
	tunnel   string
}

// AllowAll is the harness's default policy: every device may use every service.
const AllowAll = "policy:\n  rules:\n    - {action: allow, who: [\"*\"]}\n"

// Policy replaces the default allow-all policy with a top-level
// `policy:` block (YAML, starting with "policy:").
func Policy(yaml string) Option { return func(o *options) { o.policy = yaml } }

// TopLevel appends top-level config (e.g. an enforcement block).
func TopLevel(yaml string) Option { return func(o *options) { o.topLevel = yaml } }

// TunnelYAML appends keys (indented YAML lines) to the tunnel block.
func TunnelYAML(s string) Option { return func(o *options) { o.tunnel = s } }

// Options passes options to gateway.New.
func Options(opts ...gateway.Option) Option { return func(o *options) { o.gw = append(o.gw, opts...) } }

// Clock gives the gateway a clock for policy decisions.
func Clock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// Seats sets the stand-in server's seat count (default 3).
func Seats(n int) Option { return func(o *options) { o.seats = n } }

// Upstream points the codemeter service at addr instead of the stand-in.
func Upstream(addr string) Option { return func(o *options) { o.upstream = addr } }

// ServiceYAML appends service options (indented YAML lines) to codemeter.
func ServiceYAML(s string) Option { return func(o *options) { o.extra = s } }

// LicsimIdle sets the stand-in's idle timeout.
func LicsimIdle(d time.Duration) Option { return func(o *options) { o.idle = d } }

// Harness is a running gateway with its license server.
type Harness struct {
	tb     testing.TB
	Log    *slog.Logger
	Server *licsim.Server
	GW     *gateway.Gateway
	Dir    string
	Config *config.Config
	// ConfigPath is the config file; rewrite it and call GW.Reload.
	ConfigPath string
	// Service is the tunnel address:port of codemeter.
	Service string
}

// New starts the stand-in license server and a gateway; both stop in
// tb's cleanup.
func New(tb testing.TB, opts ...Option) *Harness {
	tb.Helper()
	o := options{seats: 3, policy: AllowAll}
	for _, f := range opts {
		f(&o)
	}
	h := &Harness{tb: tb, Log: Logger(tb)}
	h.Server = &licsim.Server{Seats: o.seats, IdleTimeout: o.idle, Name: "test", Logger: h.Log}
	if err := h.Server.Listen("127.0.0.1:0"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Server.Close() })
	upstream := o.upstream
	if upstream == "" {
		upstream = h.Server.Addr().String()
	}
	// Unix socket paths are limited to ~107 bytes: keep the dir short.
	dir, err := os.MkdirTemp("", "lgt")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	h.Dir = dir
	cfgText := fmt.Sprintf(`state_dir: %s
tunnel:
  listen_port: 0
  endpoint: 127.0.0.1
%sservices:
  - name: codemeter
    port: 22350
    upstream: %s
%s%s%s`, dir, o.tunnel, upstream, o.extra, o.policy, o.topLevel)
	h.ConfigPath = filepath.Join(dir, "licgate.yaml")
	if err := os.WriteFile(h.ConfigPath, []byte(cfgText), 0o600); err != nil {
		tb.Fatal(err)
	}
	cfg, err := config.Load(h.ConfigPath)
	if err != nil {
		tb.Fatal(err)
	}
	h.Config = cfg
	gopts := o.gw
	if o.clock != nil {
		gopts = append(gopts, gateway.WithClock(o.clock))
	}
	h.GW = gateway.New(cfg, h.Log, gopts...)
	if err := h.GW.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.GW.Close() })
	h.Service = net.JoinHostPort(cfg.Tunnel.Address, "22350")
	return h
}

// Client is a home device: a netstack WireGuard client from its profile.
type Client struct {
	User, Name string
	Profile    tunnel.Profile
	Dev        *tunnel.Device
	service    string
}

// AddDevice creates the user if needed, adds a device and starts its
// WireGuard client from the generated profile.
func (h *Harness) AddDevice(user, name string) *Client {
	h.tb.Helper()
	ctx := context.Background()
	if _, err := h.GW.AddUser(ctx, user, ""); err != nil && !strings.Contains(err.Error(), "already exists") {
		h.tb.Fatal(err)
	}
	res, err := h.GW.AddDevice(ctx, user, name, "")
	if err != nil {
		h.tb.Fatal(err)
	}
	p, err := tunnel.ParseProfile(res.ProfileText)
	if err != nil {
		h.tb.Fatal(err)
	}
	return h.StartClient(user, name, p)
}

// StartClient starts a WireGuard client for any profile (e.g. one with a
// key the gateway does not know).
func (h *Harness) StartClient(user, name string, p tunnel.Profile) *Client {
	h.tb.Helper()
	dev, err := tunnel.NewClient(context.Background(), p, nil)
	if err != nil {
		h.tb.Fatal(err)
	}
	h.tb.Cleanup(func() { dev.Close() })
	return &Client{User: user, Name: name, Profile: p, Dev: dev, service: h.Service}
}

// Dial opens a connection to codemeter through the tunnel.
func (c *Client) Dial(network string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Dev.DialContext(ctx, network, c.service)
}

// TakeSeat connects through the tunnel and takes a license seat.
func (c *Client) TakeSeat(tb testing.TB) *licsim.Client {
	tb.Helper()
	lc, ans, err := c.TrySeat(15 * time.Second)
	if err != nil {
		tb.Fatalf("%s/%s: take seat: %v", c.User, c.Name, err)
	}
	if !strings.HasPrefix(ans, "OK ") {
		tb.Fatalf("%s/%s: take seat: server answered %q", c.User, c.Name, ans)
	}
	return lc
}

// TrySeat is TakeSeat returning errors: the licsim client (nil on error)
// and the server's answer.
func (c *Client) TrySeat(timeout time.Duration) (*licsim.Client, string, error) {
	conn, err := c.Dial("tcp", timeout)
	if err != nil {
		return nil, "", err
	}
	conn.SetDeadline(time.Now().Add(timeout))
	lc := licsim.NewClient(conn)
	ans, err := lc.Call("HELLO " + c.User + "/" + c.Name)
	if err != nil {
		conn.Close()
		return nil, "", err
	}
	conn.SetDeadline(time.Time{})
	return lc, ans, nil
}

// Warm makes sure the WireGuard handshake is done, without opening a
// session: it dials a port the gateway does not serve.
func (c *Client) Warm(tb testing.TB) {
	tb.Helper()
	host, _, _ := net.SplitHostPort(c.service)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := c.Dev.DialContext(ctx, "tcp", net.JoinHostPort(host, "9"))
	if err == nil {
		conn.Close()
		return
	}
	if strings.Contains(err.Error(), "refused") {
		return
	}
	tb.Fatalf("%s/%s: warm tunnel: %v", c.User, c.Name, err)
}

// Discover sends a UDP discovery through the tunnel and returns the answer.
func (c *Client) Discover(timeout time.Duration) (string, error) {
	conn, err := c.Dial("udp", timeout)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	buf := make([]byte, 1500)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		conn.Write([]byte("DISCOVER"))
		conn.SetReadDeadline(time.Now().Add(time.Second))
		n, err := conn.Read(buf)
		if err == nil {
			return string(buf[:n]), nil
		}
	}
	return "", fmt.Errorf("no discovery answer in %s", timeout)
}

// WaitSessions waits until the gateway has n live sessions.
func (h *Harness) WaitSessions(n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if h.GW.SessionCount() == n {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return h.GW.SessionCount() == n
}

// Drain reads c until it fails and returns the error (io.EOF when the
// gateway closed it cleanly).
func Drain(c io.Reader) error {
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			return err
		}
	}
}
