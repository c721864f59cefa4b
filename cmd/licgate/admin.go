package main

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/bundle"
	"github.com/licgate/licgate/certs"
	"github.com/licgate/licgate/portmap"
	"github.com/licgate/licgate/session"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/tunnel"
)

// statusView is `status --json`.
type statusView struct {
	Health   adminapi.Health        `json:"health"`
	Services []adminapi.ServiceView `json:"services"`
}

func setupStatus(fs *flag.FlagSet) runFunc {
	return func(e *env, _ []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		h, err := c.Health(e.ctx)
		if err != nil {
			return err
		}
		ss, err := c.Services(e.ctx)
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(e.stdout, statusView{Health: h, Services: ss})
		}
		endpoint := h.Endpoint
		if endpoint == "" {
			endpoint = "(not set: profiles need tunnel.endpoint or ddns.host)"
		}
		fmt.Fprintf(e.stdout, "licgate is running (%s) on %s\n", h.Status, c.Socket)
		fmt.Fprintf(e.stdout, "tunnel: gateway %s, UDP port %d, endpoint %s\npublic key: %s\n", h.Address, h.ListenPort, endpoint, h.PublicKey)
		for _, pm := range []struct {
			what string
			st   *portmap.Status
		}{{"WireGuard (UDP)", h.Portmap}, {"enrolment page (TCP)", h.PortmapPublic}} {
			if pm.st != nil {
				fmt.Fprintln(e.stdout, portmapLine(pm.what, pm.st))
			}
		}
		fmt.Fprintf(e.stdout, "devices: %d, live sessions: %d\n\n", h.Devices, h.Sessions)
		tw := newTable(e.stdout, "SERVICE", "PORT", "UPSTREAM", "SESSIONS")
		for _, s := range ss {
			n := strconv.Itoa(s.Sessions)
			if s.Pool > 0 {
				n += " of " + strconv.Itoa(s.Pool)
			}
			tw.row(s.Name, s.Port, s.Upstream, n)
		}
		return tw.flush()
	}
}

// portmapLine is one router mapping in `licgate status`: its state, what
// the internet reaches, and for a refused or failing one the router's
// answer, what to do and when licgate asks again.
func portmapLine(what string, pm *portmap.Status) string {
	netw := strings.ToUpper(cmp.Or(pm.Network, "udp"))
	line := fmt.Sprintf("router port mapping, %s: %s", what, pm.State)
	switch pm.State {
	case "mapped":
		line += fmt.Sprintf(" by %s: %s:%d -> %s %d", pm.Protocol, pm.ExternalAddress, pm.ExternalPort, netw, pm.InternalPort)
		if pm.AskedPort != 0 && pm.AskedPort != pm.ExternalPort {
			line += fmt.Sprintf(" (external port %d was not granted)", pm.AskedPort)
		}
		if !pm.LeaseExpiry.IsZero() {
			line += ", lease until " + pm.LeaseExpiry.Local().Format(time.DateTime)
		}
	default:
		line += fmt.Sprintf(" (%s port %d)", netw, pm.InternalPort)
	}
	if pm.NotPublic {
		line += " (WARNING: the router's external address is not public: another NAT is in front of it)"
	}
	if pm.LastError != "" {
		line += "\n  last error: " + pm.LastError
	}
	if pm.Fix != "" {
		line += "\n  fix: " + pm.Fix
	}
	if !pm.NextAttempt.IsZero() && pm.State != "mapped" {
		line += "\n  next attempt: " + pm.NextAttempt.Local().Format(time.DateTime)
	}
	return line
}

func setupUserAdd(fs *flag.FlagSet) runFunc {
	email := fs.String("email", "", "the user's email `ADDRESS`")
	return func(e *env, args []string) error {
		if err := validName("user", args[0]); err != nil {
			return err
		}
		if *email != "" && !strings.Contains(*email, "@") {
			return fmt.Errorf("--email %q is not an email address", *email)
		}
		c, err := e.client()
		if err != nil {
			return err
		}
		u, err := c.AddUser(e.ctx, adminapi.AddUserRequest{Name: args[0], Email: *email})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "user %s added\n", u.Name)
		return nil
	}
}

func setupUserList(fs *flag.FlagSet) runFunc {
	return func(e *env, _ []string) error {
		return listing(e, func(c *adminapi.Client) ([]store.User, error) { return c.Users(e.ctx) }, func(us []store.User) error {
			tw := newTable(e.stdout, "USER", "EMAIL", "STATE", "CREATED", "EXPIRES")
			for _, u := range us {
				state := "enabled"
				if u.Disabled {
					state = "disabled"
				}
				tw.row(u.Name, u.Email, state, u.Created.Local().Format(time.DateTime), when(u.Expires))
			}
			return tw.flush()
		})
	}
}

func setupUserDisable(disabled bool) func(fs *flag.FlagSet) runFunc {
	return func(fs *flag.FlagSet) runFunc {
		return func(e *env, args []string) error {
			if err := validName("user", args[0]); err != nil {
				return err
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			r, err := c.SetUserDisabled(e.ctx, args[0], disabled)
			if err != nil {
				return err
			}
			verb := "enabled"
			if disabled {
				verb = "disabled"
			}
			fmt.Fprintf(e.stdout, "user %s %s; %d live session(s) cut\n", args[0], verb, r.SessionsCut)
			return nil
		}
	}
}

func setupUserExpire(fs *flag.FlagSet) runFunc {
	return func(e *env, args []string) error {
		if err := validName("user", args[0]); err != nil {
			return err
		}
		if err := validExpiry(args[1]); err != nil {
			return err
		}
		c, err := e.client()
		if err != nil {
			return err
		}
		if err := c.SetUserExpiry(e.ctx, args[0], args[1]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "user %s: access ends %s\n", args[0], args[1])
		return nil
	}
}

// profileFlags are add's and rekey's.
type profileFlags struct {
	out, pub *string
	noQR     *bool
}

func addProfileFlags(fs *flag.FlagSet) profileFlags {
	return profileFlags{
		out:  fs.String("out", "", "write the home-user bundle: `PREFIX`.conf, PREFIX.png, PREFIX-linux.sh, PREFIX-macos.sh, PREFIX-windows.ps1"),
		pub:  fs.String("public-key", "", "the device's own public `KEY` (no profile is generated)"),
		noQR: fs.Bool("no-qr", false, "do not print the terminal QR code"),
	}
}

// check validates the device's names and the flags before anything
// changes on the daemon.
func (p profileFlags) check(user, name string) error {
	if err := validName("user", user); err != nil {
		return err
	}
	if err := validName("device", name); err != nil {
		return err
	}
	if *p.pub != "" {
		if _, err := tunnel.ParseKey(*p.pub); err != nil {
			return fmt.Errorf("--public-key %q is not a WireGuard public key (44 characters of base64, as `wg pubkey` prints)", *p.pub)
		}
		if *p.out != "" {
			return usagef("--out and --public-key exclude each other: with its own key the device has no profile to write")
		}
	}
	if *p.out != "" {
		return bundle.CheckPrefix(*p.out)
	}
	return nil
}

func setupDeviceAdd(fs *flag.FlagSet) runFunc {
	pf := addProfileFlags(fs)
	link := fs.Bool("link", false, "make a single-use enrolment link instead of a profile")
	ttl := fs.String("ttl", "", "with --link: how long the link is valid (`DURATION`, up to 30d; default 24h)")
	return func(e *env, args []string) error {
		user, name := args[0], args[1]
		if *link {
			if *pf.out != "" || *pf.pub != "" {
				return usagef("--link makes a link for the device to enrol itself: no --out or --public-key")
			}
			if err := validName("user", user); err != nil {
				return err
			}
			if err := validName("device", name); err != nil {
				return err
			}
			ttlArg := ""
			if *ttl != "" {
				d, err := validTTL(*ttl)
				if err != nil {
					return err
				}
				ttlArg = d.String()
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			l, err := c.CreateEnrollLink(e.ctx, adminapi.EnrollRequest{User: user, Device: name, TTL: ttlArg})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "enrolment link for %s/%s (single use, valid until %s):\n%s\n", user, name, l.Expires.Local().Format(time.DateTime), l.URL)
			return nil
		}
		if *ttl != "" {
			return usagef("--ttl goes with --link")
		}
		if err := pf.check(user, name); err != nil {
			return err
		}
		c, err := e.client()
		if err != nil {
			return err
		}
		res, err := c.AddDevice(e.ctx, adminapi.AddDeviceRequest{User: user, Name: name, PublicKey: *pf.pub})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "device %s/%s added with tunnel address %s\n", res.Device.User, res.Device.Name, res.Device.Address)
		if res.ProfileText == "" {
			fmt.Fprintln(e.stdout, "the device keeps its own private key; configure its peer with the gateway's public key")
			return nil
		}
		return showProfile(e.stdout, res.ProfileText, *pf.out, !*pf.noQR)
	}
}

func setupDeviceRekey(fs *flag.FlagSet) runFunc {
	pf := addProfileFlags(fs)
	return func(e *env, args []string) error {
		if err := pf.check(args[0], args[1]); err != nil {
			return err
		}
		c, err := e.client()
		if err != nil {
			return err
		}
		res, err := c.RekeyDevice(e.ctx, args[0], args[1], adminapi.RekeyRequest{PublicKey: *pf.pub})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "device %s/%s has a new key; the old profile no longer works\n", res.Device.User, res.Device.Name)
		if res.ProfileText == "" {
			return nil
		}
		return showProfile(e.stdout, res.ProfileText, *pf.out, !*pf.noQR)
	}
}

func setupDeviceList(fs *flag.FlagSet) runFunc {
	all := fs.Bool("all", false, "list revoked devices too")
	return func(e *env, _ []string) error {
		return listing(e, func(c *adminapi.Client) ([]store.Device, error) { return c.Devices(e.ctx, *all) }, func(ds []store.Device) error {
			tw := newTable(e.stdout, "USER", "DEVICE", "ADDRESS", "PUBLIC KEY", "CREATED", "EXPIRES", "REVOKED")
			for _, d := range ds {
				rev := ""
				if d.Revoked != nil {
					rev = d.Revoked.Local().Format(time.DateTime)
				}
				tw.row(d.User, d.Name, d.Address, d.PublicKey, d.Created.Local().Format(time.DateTime), when(d.Expires), rev)
			}
			return tw.flush()
		})
	}
}

func setupDeviceRevoke(fs *flag.FlagSet) runFunc {
	return func(e *env, args []string) error {
		if err := validName("user", args[0]); err != nil {
			return err
		}
		if err := validName("device", args[1]); err != nil {
			return err
		}
		c, err := e.client()
		if err != nil {
			return err
		}
		r, err := c.RevokeDevice(e.ctx, args[0], args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "device %s/%s revoked; %d live session(s) cut\n", args[0], args[1], r.SessionsCut)
		return nil
	}
}

func setupDeviceExpire(fs *flag.FlagSet) runFunc {
	return func(e *env, args []string) error {
		if err := validName("user", args[0]); err != nil {
			return err
		}
		if err := validName("device", args[1]); err != nil {
			return err
		}
		if err := validExpiry(args[2]); err != nil {
			return err
		}
		c, err := e.client()
		if err != nil {
			return err
		}
		if err := c.SetDeviceExpiry(e.ctx, args[0], args[1], args[2]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "device %s/%s: stops working %s\n", args[0], args[1], args[2])
		return nil
	}
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
		q, err := bundle.QRTerminal(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "scan with the WireGuard app:\n%s\n", q)
	}
	if out == "" {
		return nil
	}
	names, err := bundle.Write(out, p)
	if err != nil {
		return fmt.Errorf("--out %s: %w (the profile above is the only copy of the key)", out, err)
	}
	dir := filepath.Dir(out)
	fmt.Fprintf(w, "wrote %s in %s\n(the .conf, .png and scripts hold the device's private key: hand them over privately)\n", strings.Join(names, ", "), dir)
	return nil
}

func setupSessions(fs *flag.FlagSet) runFunc {
	return func(e *env, _ []string) error {
		return listing(e, func(c *adminapi.Client) ([]session.SessionInfo, error) { return c.Sessions(e.ctx) }, func(ss []session.SessionInfo) error {
			return printSessions(e.stdout, ss)
		})
	}
}

func printSessions(w io.Writer, ss []session.SessionInfo) error {
	tw := newTable(w, "ID", "USER", "DEVICE", "SERVICE", "PROTO", "CLIENT", "SINCE", "BYTES UP", "BYTES DOWN")
	for _, s := range ss {
		tw.row(s.ID, s.User, s.Device, s.Service, s.Proto, s.Client, s.Start.Local().Format(time.TimeOnly), s.BytesUp, s.BytesDown)
	}
	return tw.flush()
}

func setupSessionCut(fs *flag.FlagSet) runFunc {
	return func(e *env, args []string) error {
		id, err := strconv.ParseUint(args[0], 10, 64)
		if err != nil {
			return fmt.Errorf("session ID %q: a number, as `licgate sessions` lists", args[0])
		}
		c, err := e.client()
		if err != nil {
			return err
		}
		if _, err := c.CutSession(e.ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "session %d cut\n", id)
		return nil
	}
}

func setupPeers(fs *flag.FlagSet) runFunc {
	return func(e *env, _ []string) error {
		return listing(e, func(c *adminapi.Client) ([]adminapi.PeerInfo, error) { return c.Peers(e.ctx) }, func(ps []adminapi.PeerInfo) error {
			tw := newTable(e.stdout, "USER", "DEVICE", "ENDPOINT", "LAST HANDSHAKE", "PUBLIC KEY", "NOTE")
			for _, p := range ps {
				hs := "never"
				if p.LastHandshake != nil {
					hs = time.Since(*p.LastHandshake).Round(time.Second).String() + " ago"
				}
				note := ""
				if p.SharedSuspect {
					note = "shared? seen at " + strings.Join(p.Endpoints, " and ")
				}
				tw.row(p.User, p.Device, p.Endpoint, hs, p.PublicKey, note)
			}
			return tw.flush()
		})
	}
}

func setupGroups(fs *flag.FlagSet) runFunc {
	return func(e *env, _ []string) error {
		return listing(e, func(c *adminapi.Client) ([]adminapi.GroupView, error) { return c.Groups(e.ctx) }, func(gs []adminapi.GroupView) error {
			tw := newTable(e.stdout, "GROUP", "MAX SESSIONS", "MEMBERS")
			for _, g := range gs {
				limit := "-"
				if g.MaxSessions > 0 {
					limit = strconv.Itoa(g.MaxSessions)
				}
				tw.row(g.Name, limit, strings.Join(g.Members, ", "))
			}
			return tw.flush()
		})
	}
}

func setupServices(fs *flag.FlagSet) runFunc {
	return func(e *env, _ []string) error {
		return listing(e, func(c *adminapi.Client) ([]adminapi.ServiceView, error) { return c.Services(e.ctx) }, func(ss []adminapi.ServiceView) error {
			tw := newTable(e.stdout, "SERVICE", "PORT", "PROTOCOLS", "UPSTREAM", "SESSIONS", "POOL")
			for _, s := range ss {
				pool := "-"
				if s.Pool > 0 {
					pool = strconv.Itoa(s.Pool)
				}
				tw.row(s.Name, s.Port, strings.Join(s.Protocols, ","), s.Upstream, s.Sessions, pool)
			}
			return tw.flush()
		})
	}
}

func setupDenials(fs *flag.FlagSet) runFunc {
	since := fs.String("since", "1h", "how far back: a `DURATION` like 30m, 24h or 7d")
	return func(e *env, _ []string) error {
		if err := validSpan("--since", *since); err != nil {
			return err
		}
		return listing(e, func(c *adminapi.Client) ([]store.AuditDenialRow, error) { return c.Denials(e.ctx, *since) }, func(ds []store.AuditDenialRow) error {
			tw := newTable(e.stdout, "AT", "USER", "DEVICE", "SERVICE", "PROTO", "SOURCE", "RULE", "REASON")
			for _, d := range ds {
				tw.row(d.At.Local().Format(time.DateTime), d.User, d.Device, d.Service, d.Proto, d.Source, d.Rule, d.Reason)
			}
			return tw.flush()
		})
	}
}

func setupCerts(fs *flag.FlagSet) runFunc {
	return func(e *env, _ []string) error {
		return listing(e, func(c *adminapi.Client) ([]certs.View, error) { return c.Certs(e.ctx) }, func(cs []certs.View) error {
			tw := newTable(e.stdout, "NAME", "ISSUER", "EXPIRES")
			for _, v := range cs {
				tw.row(v.Name, v.Issuer, v.NotAfter.Local().Format(time.DateTime))
			}
			return tw.flush()
		})
	}
}

func setupCA(fs *flag.FlagSet) runFunc {
	return func(e *env, _ []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		pem, err := c.CA(e.ctx)
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(pem)
		return err
	}
}

// listing is every listing's shape: fetch from the daemon, then JSON
// (--json) or a table for people.
func listing[T any](e *env, fetch func(*adminapi.Client) (T, error), table func(T) error) error {
	c, err := e.client()
	if err != nil {
		return err
	}
	v, err := fetch(c)
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.stdout, v)
	}
	return table(v)
}
