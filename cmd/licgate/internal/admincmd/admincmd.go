// Package admincmd is the licgate commands that manage a running daemon
// through its API: status, users, devices, sessions, peers, groups,
// services, denials, certificates, the CA, devices waiting for approval
// and the license seats in use.
package admincmd

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
	"github.com/licgate/licgate/cmd/licgate/internal/clikit"
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

func SetupStatus(fs *flag.FlagSet) clikit.RunFunc {
	return func(e *clikit.Env, _ []string) error {
		c, err := e.Client()
		if err != nil {
			return err
		}
		h, err := c.Health(e.Ctx)
		if err != nil {
			return err
		}
		ss, err := c.Services(e.Ctx)
		if err != nil {
			return err
		}
		if e.JSON {
			return clikit.PrintJSON(e.Stdout, statusView{Health: h, Services: ss})
		}
		endpoint := h.Endpoint
		if endpoint == "" {
			endpoint = "(not set: profiles need tunnel.endpoint or ddns.host)"
		}
		fmt.Fprintf(e.Stdout, "licgate is running (%s) on %s\n", h.Status, c.Socket)
		fmt.Fprintf(e.Stdout, "tunnel: gateway %s, UDP port %d, endpoint %s\npublic key: %s\n", h.Address, h.ListenPort, endpoint, h.PublicKey)
		for _, pm := range []struct {
			what string
			st   *portmap.Status
		}{{"WireGuard (UDP)", h.Portmap}, {"enrolment page (TCP)", h.PortmapPublic}} {
			if pm.st != nil {
				fmt.Fprintln(e.Stdout, portmapLine(pm.what, pm.st))
			}
		}
		fmt.Fprintf(e.Stdout, "devices: %d, live sessions: %d\n\n", h.Devices, h.Sessions)
		tw := clikit.NewTable(e.Stdout, "SERVICE", "PORT", "UPSTREAM", "SESSIONS")
		for _, s := range ss {
			n := strconv.Itoa(s.Sessions)
			if s.Pool > 0 {
				n += " of " + strconv.Itoa(s.Pool)
			}
			tw.Row(s.Name, s.Port, s.Upstream, n)
		}
		return tw.Flush()
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

func SetupUserAdd(fs *flag.FlagSet) clikit.RunFunc {
	email := fs.String("email", "", "the user's email `ADDRESS`")
	return func(e *clikit.Env, args []string) error {
		if err := clikit.ValidName("user", args[0]); err != nil {
			return err
		}
		if *email != "" && !strings.Contains(*email, "@") {
			return fmt.Errorf("--email %q is not an email address", *email)
		}
		c, err := e.Client()
		if err != nil {
			return err
		}
		u, err := c.AddUser(e.Ctx, adminapi.AddUserRequest{Name: args[0], Email: *email})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "user %s added\n", u.Name)
		return nil
	}
}

func SetupUserList(fs *flag.FlagSet) clikit.RunFunc {
	return func(e *clikit.Env, _ []string) error {
		return clikit.Listing(e, func(c *adminapi.Client) ([]store.User, error) { return c.Users(e.Ctx) }, func(us []store.User) error {
			tw := clikit.NewTable(e.Stdout, "USER", "EMAIL", "STATE", "CREATED", "EXPIRES")
			for _, u := range us {
				state := "enabled"
				if u.Disabled {
					state = "disabled"
				}
				tw.Row(u.Name, u.Email, state, u.Created.Local().Format(time.DateTime), clikit.When(u.Expires))
			}
			return tw.Flush()
		})
	}
}

func SetupUserDisable(disabled bool) func(fs *flag.FlagSet) clikit.RunFunc {
	return func(fs *flag.FlagSet) clikit.RunFunc {
		return func(e *clikit.Env, args []string) error {
			if err := clikit.ValidName("user", args[0]); err != nil {
				return err
			}
			c, err := e.Client()
			if err != nil {
				return err
			}
			r, err := c.SetUserDisabled(e.Ctx, args[0], disabled)
			if err != nil {
				return err
			}
			verb := "enabled"
			if disabled {
				verb = "disabled"
			}
			fmt.Fprintf(e.Stdout, "user %s %s; %d live session(s) cut\n", args[0], verb, r.SessionsCut)
			return nil
		}
	}
}

func SetupUserExpire(fs *flag.FlagSet) clikit.RunFunc {
	return func(e *clikit.Env, args []string) error {
		if err := clikit.ValidName("user", args[0]); err != nil {
			return err
		}
		if err := clikit.ValidExpiry(args[1]); err != nil {
			return err
		}
		c, err := e.Client()
		if err != nil {
			return err
		}
		if err := c.SetUserExpiry(e.Ctx, args[0], args[1]); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "user %s: access ends %s\n", args[0], args[1])
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
	if err := clikit.ValidName("user", user); err != nil {
		return err
	}
	if err := clikit.ValidName("device", name); err != nil {
		return err
	}
	if *p.pub != "" {
		if _, err := tunnel.ParseKey(*p.pub); err != nil {
			return fmt.Errorf("--public-key %q is not a WireGuard public key (44 characters of base64, as `wg pubkey` prints)", *p.pub)
		}
		if *p.out != "" {
			return clikit.Usagef("--out and --public-key exclude each other: with its own key the device has no profile to write")
		}
	}
	if *p.out != "" {
		return bundle.CheckPrefix(*p.out)
	}
	return nil
}

func SetupDeviceAdd(fs *flag.FlagSet) clikit.RunFunc {
	pf := addProfileFlags(fs)
	link := fs.Bool("link", false, "make a single-use enrolment link instead of a profile")
	ttl := fs.String("ttl", "", "with --link: how long the link is valid (`DURATION`, up to 30d; default 24h)")
	return func(e *clikit.Env, args []string) error {
		user, name := args[0], args[1]
		if *link {
			if *pf.out != "" || *pf.pub != "" {
				return clikit.Usagef("--link makes a link for the device to enrol itself: no --out or --public-key")
			}
			if err := clikit.ValidName("user", user); err != nil {
				return err
			}
			if err := clikit.ValidName("device", name); err != nil {
				return err
			}
			ttlArg := ""
			if *ttl != "" {
				d, err := clikit.ValidTTL(*ttl)
				if err != nil {
					return err
				}
				ttlArg = d.String()
			}
			c, err := e.Client()
			if err != nil {
				return err
			}
			l, err := c.CreateEnrollLink(e.Ctx, adminapi.EnrollRequest{User: user, Device: name, TTL: ttlArg})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "enrolment link for %s/%s (single use, valid until %s):\n%s\n", user, name, l.Expires.Local().Format(time.DateTime), l.URL)
			return nil
		}
		if *ttl != "" {
			return clikit.Usagef("--ttl goes with --link")
		}
		if err := pf.check(user, name); err != nil {
			return err
		}
		c, err := e.Client()
		if err != nil {
			return err
		}
		res, err := c.AddDevice(e.Ctx, adminapi.AddDeviceRequest{User: user, Name: name, PublicKey: *pf.pub})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "device %s/%s added with tunnel address %s\n", res.Device.User, res.Device.Name, res.Device.Address)
		if res.ProfileText == "" {
			fmt.Fprintln(e.Stdout, "the device keeps its own private key; configure its peer with the gateway's public key")
			return nil
		}
		return showProfile(e.Stdout, res.ProfileText, *pf.out, !*pf.noQR)
	}
}

func SetupDeviceRekey(fs *flag.FlagSet) clikit.RunFunc {
	pf := addProfileFlags(fs)
	return func(e *clikit.Env, args []string) error {
		if err := pf.check(args[0], args[1]); err != nil {
			return err
		}
		c, err := e.Client()
		if err != nil {
			return err
		}
		res, err := c.RekeyDevice(e.Ctx, args[0], args[1], adminapi.RekeyRequest{PublicKey: *pf.pub})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "device %s/%s has a new key; the old profile no longer works\n", res.Device.User, res.Device.Name)
		if res.ProfileText == "" {
			return nil
		}
		return showProfile(e.Stdout, res.ProfileText, *pf.out, !*pf.noQR)
	}
}

func SetupDeviceList(fs *flag.FlagSet) clikit.RunFunc {
	all := fs.Bool("all", false, "list revoked devices too")
	return func(e *clikit.Env, _ []string) error {
		return clikit.Listing(e, func(c *adminapi.Client) ([]store.Device, error) { return c.Devices(e.Ctx, *all) }, func(ds []store.Device) error {
			tw := clikit.NewTable(e.Stdout, "USER", "DEVICE", "ADDRESS", "PUBLIC KEY", "CREATED", "EXPIRES", "REVOKED")
			for _, d := range ds {
				rev := ""
				if d.Revoked != nil {
					rev = d.Revoked.Local().Format(time.DateTime)
				}
				tw.Row(d.User, d.Name, d.Address, d.PublicKey, d.Created.Local().Format(time.DateTime), clikit.When(d.Expires), rev)
			}
			return tw.Flush()
		})
	}
}

func SetupDeviceRevoke(fs *flag.FlagSet) clikit.RunFunc {
	return func(e *clikit.Env, args []string) error {
		if err := clikit.ValidName("user", args[0]); err != nil {
			return err
		}
		if err := clikit.ValidName("device", args[1]); err != nil {
			return err
		}
		c, err := e.Client()
		if err != nil {
			return err
		}
		r, err := c.RevokeDevice(e.Ctx, args[0], args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "device %s/%s revoked; %d live session(s) cut\n", args[0], args[1], r.SessionsCut)
		return nil
	}
}

func SetupDeviceExpire(fs *flag.FlagSet) clikit.RunFunc {
	return func(e *clikit.Env, args []string) error {
		if err := clikit.ValidName("user", args[0]); err != nil {
			return err
		}
		if err := clikit.ValidName("device", args[1]); err != nil {
			return err
		}
		if err := clikit.ValidExpiry(args[2]); err != nil {
			return err
		}
		c, err := e.Client()
		if err != nil {
			return err
		}
		if err := c.SetDeviceExpiry(e.Ctx, args[0], args[1], args[2]); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "device %s/%s: stops working %s\n", args[0], args[1], args[2])
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

func SetupSessions(fs *flag.FlagSet) clikit.RunFunc {
	return func(e *clikit.Env, _ []string) error {
		return clikit.Listing(e, func(c *adminapi.Client) ([]session.SessionInfo, error) { return c.Sessions(e.Ctx) }, func(ss []session.SessionInfo) error {
			return printSessions(e.Stdout, ss)
		})
	}
}

func printSessions(w io.Writer, ss []session.SessionInfo) error {
	tw := clikit.NewTable(w, "ID", "USER", "DEVICE", "SERVICE", "PROTO", "CLIENT", "SINCE", "BYTES UP", "BYTES DOWN")
	for _, s := range ss {
		tw.Row(s.ID, s.User, s.Device, s.Service, s.Proto, s.Client, s.Start.Local().Format(time.TimeOnly), s.BytesUp, s.BytesDown)
	}
	return tw.Flush()
}

func SetupSessionCut(fs *flag.FlagSet) clikit.RunFunc {
	return func(e *clikit.Env, args []string) error {
		id, err := strconv.ParseUint(args[0], 10, 64)
		if err != nil {
			return fmt.Errorf("session ID %q: a number, as `licgate sessions` lists", args[0])
		}
		c, err := e.Client()
		if err != nil {
			return err
		}
		if _, err := c.CutSession(e.Ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "session %d cut\n", id)
		return nil
	}
}

func SetupPeers(fs *flag.FlagSet) clikit.RunFunc {
	return func(e *clikit.Env, _ []string) error {
		return clikit.Listing(e, func(c *adminapi.Client) ([]adminapi.PeerInfo, error) { return c.Peers(e.Ctx) }, func(ps []adminapi.PeerInfo) error {
			tw := clikit.NewTable(e.Stdout, "USER", "DEVICE", "ENDPOINT", "LAST HANDSHAKE", "PUBLIC KEY", "NOTE")
			for _, p := range ps {
				hs := "never"
				if p.LastHandshake != nil {
					hs = time.Since(*p.LastHandshake).Round(time.Second).String() + " ago"
				}
				note := ""
				if p.SharedSuspect {
					note = "shared? seen at " + strings.Join(p.Endpoints, " and ")
				}
				tw.Row(p.User, p.Device, p.Endpoint, hs, p.PublicKey, note)
			}
			return tw.Flush()
		})
	}
}

func SetupGroups(fs *flag.FlagSet) clikit.RunFunc {
	return func(e *clikit.Env, _ []string) error {
		return clikit.Listing(e, func(c *adminapi.Client) ([]adminapi.GroupView, error) { return c.Groups(e.Ctx) }, func(gs []adminapi.GroupView) error {
			tw := clikit.NewTable(e.Stdout, "GROUP", "MAX SESSIONS", "MEMBERS")
			for _, g := range gs {
				limit := "-"
				if g.MaxSessions > 0 {
					limit = strconv.Itoa(g.MaxSessions)
				}
				tw.Row(g.Name, limit, strings.Join(g.Members, ", "))
			}
			return tw.Flush()
		})
	}
}

func SetupServices(fs *flag.FlagSet) clikit.RunFunc {
	return func(e *clikit.Env, _ []string) error {
		return clikit.Listing(e, func(c *adminapi.Client) ([]adminapi.ServiceView, error) { return c.Services(e.Ctx) }, func(ss []adminapi.ServiceView) error {
			tw := clikit.NewTable(e.Stdout, "SERVICE", "PORT", "PROTOCOLS", "UPSTREAM", "SESSIONS", "POOL")
			for _, s := range ss {
				pool := "-"
				if s.Pool > 0 {
					pool = strconv.Itoa(s.Pool)
				}
				tw.Row(s.Name, s.Port, strings.Join(s.Protocols, ","), s.Upstream, s.Sessions, pool)
			}
			return tw.Flush()
		})
	}
}

func SetupDenials(fs *flag.FlagSet) clikit.RunFunc {
	since := fs.String("since", "1h", "how far back: a `DURATION` like 30m, 24h or 7d")
	return func(e *clikit.Env, _ []string) error {
		if err := clikit.ValidSpan("--since", *since); err != nil {
			return err
		}
		return clikit.Listing(e, func(c *adminapi.Client) ([]store.AuditDenialRow, error) { return c.Denials(e.Ctx, *since) }, func(ds []store.AuditDenialRow) error {
			tw := clikit.NewTable(e.Stdout, "AT", "USER", "DEVICE", "SERVICE", "PROTO", "SOURCE", "RULE", "REASON")
			for _, d := range ds {
				tw.Row(d.At.Local().Format(time.DateTime), d.User, d.Device, d.Service, d.Proto, d.Source, d.Rule, d.Reason)
			}
			return tw.Flush()
		})
	}
}

func SetupCerts(fs *flag.FlagSet) clikit.RunFunc {
	return func(e *clikit.Env, _ []string) error {
		return clikit.Listing(e, func(c *adminapi.Client) ([]certs.View, error) { return c.Certs(e.Ctx) }, func(cs []certs.View) error {
			tw := clikit.NewTable(e.Stdout, "NAME", "ISSUER", "EXPIRES")
			for _, v := range cs {
				tw.Row(v.Name, v.Issuer, v.NotAfter.Local().Format(time.DateTime))
			}
			return tw.Flush()
		})
	}
}

func SetupCA(fs *flag.FlagSet) clikit.RunFunc {
	return func(e *clikit.Env, _ []string) error {
		c, err := e.Client()
		if err != nil {
			return err
		}
		pem, err := c.CA(e.Ctx)
		if err != nil {
			return err
		}
		_, err = e.Stdout.Write(pem)
		return err
	}
}
