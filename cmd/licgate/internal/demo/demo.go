// Package demo is `licgate demo`: the whole path on loopback, with no
// config and no root: a stand-in license server, the gateway (netstack), a
// home device on an in-process WireGuard client, a seat taken, a UDP search
// answered, the device revoked and the seat freed.
//
// Typical usage:
//
//	err := demo.Run(os.Stdout, os.Stderr, true, false, "")
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/licgate/licgate/bundle"
	"github.com/licgate/licgate/config"

	"github.com/licgate/licgate/gateway"
	"github.com/licgate/licgate/internal/licsim"
	"github.com/licgate/licgate/tunnel"
)

// Run tells the story; with once it returns after it (an error if a step
// failed), otherwise the gateway keeps serving until SIGINT/SIGTERM.
func Run(stdout, stderr io.Writer, once, verbose bool, dir string) error {
	level := slog.LevelError + 4
	if verbose {
		level = slog.LevelDebug
	}
	d := &demo{out: stdout, log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})), dir: dir}
	defer d.close()
	if err := d.story(); err != nil {
		fmt.Fprintf(stdout, "\nFAILED: %v\n", err)
		return errors.New("demo failed")
	}
	if once {
		return nil
	}
	fmt.Fprintf(stdout, "\nThe gateway keeps serving. In another terminal, try:\n"+
		"  LICGATE_SOCKET=%s go run ./cmd/licgate sessions\n"+
		"  LICGATE_SOCKET=%s go run ./cmd/licgate device add demo desktop --out /tmp/desktop\n"+
		"Ctrl-C stops it.\n", d.g.Config().Socket, d.g.Config().Socket)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return nil
}

type demo struct {
	out     io.Writer
	log     *slog.Logger
	dir     string
	tmp     bool
	srv     *licsim.Server
	g       *gateway.Gateway
	clients []*tunnel.Device
}

func (d *demo) close() {
	for _, c := range d.clients {
		c.Close()
	}
	if d.g != nil {
		d.g.Close()
	}
	if d.srv != nil {
		d.srv.Close()
	}
	if d.tmp {
		os.RemoveAll(d.dir)
	}
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

func (d *demo) story() error {
	ctx := context.Background()
	if d.dir == "" {
		dir, err := os.MkdirTemp("", "licgate-demo-")
		if err != nil {
			return err
		}
		d.dir, d.tmp = dir, true
	}
	d.say("licgate demo: a home computer takes a license from the office server through WireGuard\n")

	d.srv = &licsim.Server{Seats: 3, Name: "office-license-server", Logger: d.log}
	if err := d.srv.Listen("127.0.0.1:0"); err != nil {
		return err
	}
	d.say(" 1. The office license server (a stand-in for CodeMeter) listens on %s, TCP and UDP, with 3 seats.", d.srv.Addr())

	cfgText := fmt.Sprintf(`state_dir: %s
log_level: debug
tunnel:
  listen_port: 0
  subnet: 10.44.0.0/24
  endpoint: 127.0.0.1
services:
  - name: codemeter
    port: 22350
    protocols: [tcp, udp]
    upstream: %s
policy:
  groups:
    home-office: [demo]
  rules:
    - name: home office may use codemeter
      action: allow
      who: [group:home-office]
      services: [codemeter]
      max_sessions_per_device: 2
  tests:
    - {user: demo, service: codemeter, at: "2026-12-01T10:00", expect: allow}
    - {user: stranger, service: codemeter, at: "2026-12-01T10:00", expect: deny}
`, d.dir, d.srv.Addr())
	cfgPath := filepath.Join(d.dir, "licgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		return err
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	d.g = gateway.New(cfg, d.log)
	if err := d.g.Start(ctx); err != nil {
		return err
	}
	d.say(" 2. licgate is up: WireGuard on UDP port %d (userspace netstack: no root, no kernel module),\n"+
		"    gateway tunnel address %s, service codemeter 22350 -> %s.", d.g.ListenPort(), cfg.Tunnel.Address, d.srv.Addr())

	if _, err := d.g.AddUser(ctx, "demo", "demo@example.com"); err != nil {
		return err
	}
	res, err := d.g.AddDevice(ctx, "demo", "laptop", "")
	if err != nil {
		return err
	}
	prefix := filepath.Join(d.dir, "demo-laptop")
	if _, err := bundle.Write(prefix, *res.Profile); err != nil {
		return err
	}
	d.say(" 3. IT added user \"demo\" with device \"laptop\" (tunnel address %s).\n"+
		"    Its WireGuard profile is %s.conf (QR code: %s.png); it routes only %s/32.", res.Device.Address, prefix, prefix, cfg.Tunnel.Address)

	text, err := os.ReadFile(prefix + ".conf")
	if err != nil {
		return err
	}
	prof, err := tunnel.ParseProfile(string(text))
	if err != nil {
		return err
	}
	client, err := tunnel.NewClient(ctx, prof, d.log)
	if err != nil {
		return err
	}
	d.clients = append(d.clients, client)
	service := net.JoinHostPort(cfg.Tunnel.Address, "22350")
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := client.DialContext(dctx, "tcp", service)
	cancel()
	if err != nil {
		return fmt.Errorf("home device could not connect through the tunnel: %w", err)
	}
	lc := licsim.NewClient(conn)
	defer lc.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	ans, err := lc.Call("HELLO demo-laptop")
	if err != nil {
		return err
	}
	if !strings.HasPrefix(ans, "OK ") {
		return fmt.Errorf("license server answered %q", ans)
	}
	d.say(" 4. The home computer imported that profile and connected to %s through the tunnel.\n"+
		"    License server: %q. Seats in use on the server: %d of 3.", service, ans, d.srv.InUse())
	if d.srv.InUse() != 1 {
		return fmt.Errorf("expected 1 seat in use, server says %d", d.srv.InUse())
	}

	start := time.Now()
	if ans, err = lc.Call("PING heartbeat"); err != nil || ans != "PONG heartbeat" {
		return fmt.Errorf("heartbeat: %q %v", ans, err)
	}
	d.say(" 5. Heartbeat PING -> %q in %s.", ans, time.Since(start).Round(10*time.Microsecond))

	uc, err := client.DialContext(ctx, "udp", service)
	if err != nil {
		return err
	}
	uc.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	var n int
	for try := 0; try < 3; try++ {
		uc.Write([]byte("DISCOVER"))
		uc.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, err = uc.Read(buf); err == nil {
			break
		}
	}
	uc.Close()
	if err != nil {
		return fmt.Errorf("udp discovery: %w", err)
	}
	d.say(" 6. UDP server search to %s answered: %q.", service, buf[:n])

	ss := d.g.Sessions()
	d.say(" 7. The gateway knows who holds what (every session is tied to a WireGuard key):")
	for _, s := range ss {
		d.say("      session %d: %s/%s %s/%s from %s since %s", s.ID, s.User, s.Device, s.Service, s.Proto, s.Client, s.Start.Format(time.TimeOnly))
	}

	// A stranger with a key the gateway has never seen.
	key, err := tunnel.GenerateKey()
	if err != nil {
		return err
	}
	stranger := prof
	stranger.PrivateKey = key
	sc, err := tunnel.NewClient(ctx, stranger, d.log)
	if err != nil {
		return err
	}
	d.clients = append(d.clients, sc)
	dctx, cancel = context.WithTimeout(ctx, 2*time.Second)
	if c, err := sc.DialContext(dctx, "tcp", service); err == nil {
		c.Close()
		cancel()
		return errors.New("a device with an unknown key got a connection")
	}
	cancel()
	d.say(" 8. A computer with a copied address but an unknown key tries the same: no handshake, no connection.")

	cut, err := d.g.RevokeDevice(ctx, "demo", "laptop")
	if err != nil {
		return err
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if isTimeout(drain(conn, buf)) {
		return errors.New("the revoked device's connection is still open")
	}
	if !d.srv.WaitInUse(0, 5*time.Second) {
		return fmt.Errorf("the seat was not released: %d in use", d.srv.InUse())
	}
	d.say(" 9. IT revoked demo/laptop: its WireGuard peer is gone and %d live session(s) were cut at once.\n"+
		"    The home computer's connection was closed; seats in use on the server: %d of 3.", cut, d.srv.InUse())
	d.say("\nDemo complete: the license went out through the tunnel to a known device, and came back on revoke.")
	return nil
}

// drain reads c until it fails and returns that (never nil) error.
func drain(c net.Conn, buf []byte) error {
	for {
		if _, err := c.Read(buf); err != nil {
			return err
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
