package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/session"

	"github.com/licgate/licgate/bundle"
	"github.com/licgate/licgate/gateway"
	"github.com/licgate/licgate/internal/licsim"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/tunnel"
)

const defaultConfig = "/etc/licgate/licgate.yaml"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `licgate: remote access to office license servers over WireGuard

usage:
  licgate serve    [-c FILE]                     run the gateway daemon
  licgate demo     [--once]                      run a self-contained demo (no root, no config)
  licgate user     add NAME [--email E] | list | disable NAME | enable NAME | expire NAME DATE|never
  licgate device   add USER NAME [--out PREFIX] [--public-key KEY] [--no-qr] | add USER NAME --link [--ttl 24h]
                   list [--all] | revoke USER NAME | rekey USER NAME [--out PREFIX] | expire USER NAME DATE|never
  licgate sessions [cut ID]                      list live license sessions, or end one
  licgate groups                                 policy groups and their members
  licgate ca                                     the internal CA's certificate (for admins' browsers)
  licgate policy   check FILE [--services a,b] | show | reload
                   explain --user U [--device D] --service S [--at TIME] [--file F]
  licgate report   [--from T] [--to T] [--by user|group|service] [--format table|csv|json]
  licgate peers                                  list WireGuard peers and last handshakes
  licgate ddns     status | update --now          dynamic DNS state, or check and update now
  licgate licsim   [--listen ADDR] [--seats N]   run the stand-in license server

Commands that talk to the daemon take -c FILE (default /etc/licgate/licgate.yaml)
or -socket PATH (or $LICGATE_SOCKET).
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(args[1:], stderr)
	case "demo":
		err = cmdDemo(args[1:], stdout, stderr)
	case "licsim":
		err = cmdLicsim(args[1:], stdout, stderr)
	case "user", "users":
		err = cmdUser(args[1:], stdout)
	case "device", "devices":
		err = cmdDevice(args[1:], stdout)
	case "sessions":
		err = cmdSessions(args[1:], stdout)
	case "peers":
		err = cmdPeers(args[1:], stdout)
	case "policy":
		err = cmdPolicy(args[1:], stdout)
	case "report":
		err = cmdReport(args[1:], stdout)
	case "ddns":
		err = cmdDDNS(args[1:], stdout)
	case "groups":
		err = cmdGet(args[1:], stdout, "/api/v1/groups")
	case "ca":
		err = cmdGet(args[1:], stdout, "/api/v1/ca")
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "licgate: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 2
		}
		fmt.Fprintf(stderr, "licgate %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// parse parses flags anywhere among the arguments and returns the rest.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// clientFlags adds -c and -socket and returns a function giving the client.
func clientFlags(fs *flag.FlagSet) func() (*adminapi.Client, error) {
	cfgPath := fs.String("c", defaultConfig, "config file (for its socket path)")
	socket := fs.String("socket", "", "admin API socket (overrides the config)")
	return func() (*adminapi.Client, error) {
		s := *socket
		if s == "" {
			s = os.Getenv("LICGATE_SOCKET")
		}
		if s == "" {
			cfg, err := config.Load(*cfgPath)
			if err != nil {
				return nil, err
			}
			s = cfg.Socket
		}
		return adminapi.NewClient(s), nil
	}
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

func cmdServe(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("c", defaultConfig, "config file; missing means defaults")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.SlogLevel())
	log.Info("config loaded", slog.String("file", cfg.File()))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	mem := newMemoryLimit(log)
	defer mem.restore()
	mem.apply(cfg)
	g := gateway.New(cfg, log, gateway.WithOnReload(mem.apply))
	if err := g.Start(ctx); err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			// Reload logs its own outcome; a bad file leaves the old policy in force.
			g.Reload(ctx)
			continue
		case <-ctx.Done():
		}
		break
	}
	log.Info("stopping", slog.String("signal", "interrupt or terminate"))
	g.Close()
	return nil
}

func cmdLicsim(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("licsim", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:22350", "TCP and UDP address")
	seats := fs.Int("seats", 3, "number of licenses")
	idle := fs.Duration("idle", 120*time.Second, "free a silent client's seat after this long")
	name := fs.String("name", "licsim", "server name in discovery answers")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	s := &licsim.Server{Seats: *seats, IdleTimeout: *idle, Name: *name, Logger: newLogger(stderr, slog.LevelDebug)}
	if err := s.Listen(*listen); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "licsim: %d seats on %s (tcp+udp); Ctrl-C to stop\n", *seats, s.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return s.Close()
}

func cmdUser(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("user", flag.ContinueOnError)
	client := clientFlags(fs)
	email := fs.String("email", "", "email address")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return errors.New("usage: licgate user add NAME [--email E] | list | disable NAME | enable NAME")
	}
	c, err := client()
	if err != nil {
		return err
	}
	ctx := context.Background()
	need := func(n int) error {
		if len(pos) != n+1 {
			return fmt.Errorf("usage: licgate user %s NAME", pos[0])
		}
		return nil
	}
	switch pos[0] {
	case "add":
		if err := need(1); err != nil {
			return err
		}
		var u store.User
		if err := c.Do(ctx, "POST", "/api/v1/users", adminapi.AddUserRequest{Name: pos[1], Email: *email}, &u); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s added\n", u.Name)
	case "list":
		var us []store.User
		if err := c.Do(ctx, "GET", "/api/v1/users", nil, &us); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tEMAIL\tSTATE\tCREATED")
		for _, u := range us {
			state := "enabled"
			if u.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, u.Email, state, u.Created.Format(time.DateTime))
		}
		tw.Flush()
	case "expire":
		if len(pos) != 3 {
			return errors.New("usage: licgate user expire NAME DATE|never")
		}
		if err := c.Do(ctx, "POST", "/api/v1/users/"+pos[1]+"/expiry", adminapi.ExpiryRequest{Expires: pos[2]}, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s: access ends %s\n", pos[1], pos[2])
	case "disable", "enable":
		if err := need(1); err != nil {
			return err
		}
		var r adminapi.CutResult
		if err := c.Do(ctx, "POST", "/api/v1/users/"+pos[1]+"/"+pos[0], nil, &r); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s %sd; %d live session(s) cut\n", pos[1], pos[0], r.SessionsCut)
	default:
		return fmt.Errorf("unknown user command %q (add, list, disable, enable)", pos[0])
	}
	return nil
}

func cmdDevice(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("device", flag.ContinueOnError)
	client := clientFlags(fs)
	out := fs.String("out", "", "write the home-user bundle: PREFIX.conf, PREFIX.png, PREFIX-linux.sh, PREFIX-macos.sh, PREFIX-windows.ps1")
	pub := fs.String("public-key", "", "the device's own public key (no profile is generated)")
	noQR := fs.Bool("no-qr", false, "do not print the terminal QR code")
	all := fs.Bool("all", false, "list revoked devices too")
	link := fs.Bool("link", false, "with add: make a single-use enrolment link instead of a profile")
	ttl := fs.String("ttl", "", "with --link: how long the link is valid (default 24h)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return errors.New("usage: licgate device add USER NAME | list | revoke USER NAME")
	}
	c, err := client()
	if err != nil {
		return err
	}
	ctx := context.Background()
	switch pos[0] {
	case "add":
		if len(pos) != 3 {
			return errors.New("usage: licgate device add USER NAME [--out PREFIX] [--public-key KEY] [--no-qr]")
		}
		if *link {
			var l adminapi.EnrollLink
			if err := c.Do(ctx, "POST", "/api/v1/enrollments", adminapi.EnrollRequest{User: pos[1], Device: pos[2], TTL: *ttl}, &l); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "enrolment link for %s/%s (single use, valid until %s):\n%s\n", pos[1], pos[2], l.Expires.Local().Format(time.DateTime), l.URL)
			return nil
		}
		var res adminapi.DeviceResult
		if err := c.Do(ctx, "POST", "/api/v1/devices", adminapi.AddDeviceRequest{User: pos[1], Name: pos[2], PublicKey: *pub}, &res); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "device %s/%s added with tunnel address %s\n", res.Device.User, res.Device.Name, res.Device.Address)
		if res.ProfileText == "" {
			fmt.Fprintln(stdout, "the device keeps its own private key; configure its peer with the gateway's public key")
			return nil
		}
		return showProfile(stdout, res.ProfileText, *out, !*noQR)
	case "list":
		var ds []store.Device
		path := "/api/v1/devices"
		if *all {
			path += "?all=1"
		}
		if err := c.Do(ctx, "GET", path, nil, &ds); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tDEVICE\tADDRESS\tPUBLIC KEY\tCREATED\tREVOKED")
		for _, d := range ds {
			rev := ""
			if d.Revoked != nil {
				rev = d.Revoked.Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.User, d.Name, d.Address, d.PublicKey, d.Created.Format(time.DateTime), rev)
		}
		tw.Flush()
	case "expire":
		if len(pos) != 4 {
			return errors.New("usage: licgate device expire USER NAME DATE|never")
		}
		if err := c.Do(ctx, "POST", "/api/v1/devices/"+pos[1]+"/"+pos[2]+"/expiry", adminapi.ExpiryRequest{Expires: pos[3]}, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "device %s/%s: stops working %s\n", pos[1], pos[2], pos[3])
	case "rekey":
		if len(pos) != 3 {
			return errors.New("usage: licgate device rekey USER NAME [--out PREFIX] [--public-key KEY] [--no-qr]")
		}
		var res adminapi.DeviceResult
		if err := c.Do(ctx, "POST", "/api/v1/devices/"+pos[1]+"/"+pos[2]+"/rekey", adminapi.RekeyRequest{PublicKey: *pub}, &res); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "device %s/%s has a new key; the old profile no longer works\n", res.Device.User, res.Device.Name)
		if res.ProfileText == "" {
			return nil
		}
		return showProfile(stdout, res.ProfileText, *out, !*noQR)
	case "revoke":
		if len(pos) != 3 {
			return errors.New("usage: licgate device revoke USER NAME")
		}
		var r adminapi.CutResult
		if err := c.Do(ctx, "POST", "/api/v1/devices/"+pos[1]+"/"+pos[2]+"/revoke", nil, &r); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "device %s/%s revoked; %d live session(s) cut\n", pos[1], pos[2], r.SessionsCut)
	default:
		return fmt.Errorf("unknown device command %q (add, list, revoke, rekey)", pos[0])
	}
	return nil
}

// showProfile prints the profile and its QR code, and writes the home-user
// bundle: PREFIX.conf (0600), PREFIX.png and the OS helpers. The tunnel on
// the home computer is named after PREFIX's base name.
func showProfile(w io.Writer, text, out string, qr bool) error {
	p, err := tunnel.ParseProfile(text)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%s\n", text)
	if qr {
		q, err := p.QRTerminal()
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "scan with the WireGuard app:\n%s\n", q)
	}
	if out == "" {
		return nil
	}
	b, err := bundle.New(filepath.Base(out), p)
	if err != nil {
		return fmt.Errorf("--out %s: %w", out, err)
	}
	files, err := b.Files()
	if err != nil {
		return err
	}
	dir := filepath.Dir(out)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "wrote %s in %s\n(the .conf, .png and scripts hold the device's private key: hand them over privately)\n", strings.Join(names, ", "), dir)
	return nil
}

func cmdSessions(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sessions", flag.ContinueOnError)
	client := clientFlags(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	c, err := client()
	if err != nil {
		return err
	}
	if len(pos) == 2 && pos[0] == "cut" {
		var r adminapi.CutResult
		if err := c.Do(context.Background(), "POST", "/api/v1/sessions/"+pos[1]+"/cut", nil, &r); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "session %s cut\n", pos[1])
		return nil
	}
	var ss []session.SessionInfo
	if err := c.Do(context.Background(), "GET", "/api/v1/sessions", nil, &ss); err != nil {
		return err
	}
	printSessions(stdout, ss)
	return nil
}

func printSessions(w io.Writer, ss []session.SessionInfo) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSER\tDEVICE\tSERVICE\tPROTO\tCLIENT\tSINCE\tBYTES UP\tBYTES DOWN")
	for _, s := range ss {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", s.ID, s.User, s.Device, s.Service, s.Proto, s.Client,
			s.Start.Format(time.TimeOnly), s.BytesUp, s.BytesDown)
	}
	tw.Flush()
}

func cmdPeers(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	client := clientFlags(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	c, err := client()
	if err != nil {
		return err
	}
	var ps []adminapi.PeerInfo
	if err := c.Do(context.Background(), "GET", "/api/v1/peers", nil, &ps); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tDEVICE\tENDPOINT\tLAST HANDSHAKE\tPUBLIC KEY")
	for _, p := range ps {
		hs := "never"
		if p.LastHandshake != nil {
			hs = time.Since(*p.LastHandshake).Round(time.Second).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.User, p.Device, p.Endpoint, hs, p.PublicKey)
	}
	tw.Flush()
	return nil
}

// cmdGet prints what the daemon answers at path (JSON or PEM).
func cmdGet(args []string, stdout io.Writer, path string) error {
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	client := clientFlags(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	c, err := client()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if path == "/api/v1/ca" {
		var b []byte
		if err := c.DoRaw(context.Background(), "GET", path, &b); err != nil {
			return err
		}
		_, err = stdout.Write(b)
		return err
	}
	if err := c.Do(context.Background(), "GET", path, nil, &raw); err != nil {
		return err
	}
	var out bytes.Buffer
	json.Indent(&out, raw, "", "  ")
	fmt.Fprintln(stdout, out.String())
	return nil
}
