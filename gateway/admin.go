package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/adminapi/adminauth"
	"github.com/licgate/licgate/adminapi/approval"
	"github.com/licgate/licgate/certs"
	"github.com/licgate/licgate/ddns"
	"github.com/licgate/licgate/store"
)

// The gateway is the admin API's backend.
var _ adminapi.Backend = (*Gateway)(nil)

// startAPI serves the admin API on the unix socket, for the CLI: the only
// listener with profiles (pprof).
func (g *Gateway) startAPI() error {
	ln, err := adminapi.ListenSocket(g.conf().Socket)
	if err != nil {
		return err
	}
	h := adminapi.AsActor("unix-socket", adminapi.Handler(g, adminapi.Options{Metrics: g.metrics.Handler(), Pprof: true, Mount: g.apiParts()}))
	srv := adminapi.NewServer(h, g.log)
	socket := g.conf().Socket
	g.onClose(func() { shutdown(srv); os.Remove(socket) })
	g.wg.Add(1)
	go g.serveHTTP(srv, ln, "admin (socket)")
	return nil
}

// startAdmin serves the admin API (and console) over HTTPS inside the
// tunnel, and on the LAN listener if configured.
func (g *Gateway) startAdmin(ctx context.Context) error {
	tlsCfg, err := g.certs.TunnelTLS(ctx, g.conf().Tunnel.Address)
	if err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	ln, err := g.tun.ListenTCP(netip.AddrPortFrom(g.conf().GatewayAddr(), uint16(g.conf().Admin.Port)))
	if err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	api := adminapi.Handler(g, adminapi.Options{Metrics: g.metrics.Handler(), Mount: g.apiParts()})
	// The portal is for every device; the rest for admins only.
	mux := http.NewServeMux()
	mux.Handle("GET /portal", g.portal)
	mux.Handle("/", adminapi.TunnelAdmin(g.adminCheck, g.log, api))
	srv := adminapi.NewServer(mux, g.log)
	g.onClose(func() { shutdown(srv) })
	g.wg.Add(1)
	go g.serveHTTP(srv, tls.NewListener(adminapi.LimitListener(ln), tlsCfg), "admin (tunnel)")
	if g.conf().Admin.LANListen != "" {
		token, err := g.conf().AdminToken()
		if err != nil {
			return err
		}
		lln, err := net.Listen("tcp", g.conf().Admin.LANListen)
		if err != nil {
			return fmt.Errorf("admin.lan_listen: %w", err)
		}
		// The token, and admin sign-in when signin.admin is set (docs/signin.md).
		as, err := g.conf().AdminSignin(adminauth.StateKey(g.conf().StateDir))
		if err != nil {
			return err
		}
		auth, err := adminauth.LAN(g, token, as, g.log, api)
		if err != nil {
			return err
		}
		lan := adminapi.NewServer(auth, g.log)
		g.lanLn = lln
		g.onClose(func() { shutdown(lan) })
		g.wg.Add(1)
		go g.serveHTTP(lan, tls.NewListener(adminapi.LimitListener(lln), tlsCfg.Clone()), "admin (LAN)")
	}
	return nil
}

// apiParts are the admin API's routes kept in packages of their own.
func (g *Gateway) apiParts() []func(*http.ServeMux) {
	return []func(*http.ServeMux){approval.Routes(g.Manager), g.licensesRoute}
}

// adminCheck: devices whose (enabled) user is in the admin group.
func (g *Gateway) adminCheck(a netip.Addr) (string, bool, string) {
	group := g.conf().Admin.Group
	refusal := "only devices of the " + group + " group may use the admin console"
	id, ok := g.Identify(a)
	if !ok {
		return a.String(), false, refusal
	}
	who := id.User + "/" + id.Device
	if id.UserDisabled || !slices.Contains(g.Engine().GroupsOf(id.User), group) {
		return who, false, refusal
	}
	return who, true, ""
}

func (g *Gateway) serveHTTP(srv *http.Server, ln net.Listener, what string) {
	defer g.wg.Done()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		g.log.Error("listener stopped", slog.String("listener", what), slog.String("err", err.Error()))
	}
}

// LANAddr is the LAN admin listener's address (nil if none).
func (g *Gateway) LANAddr() net.Addr {
	if g.lanLn == nil {
		return nil
	}
	return g.lanLn.Addr()
}

// Health is the daemon's summary.
func (g *Gateway) Health() adminapi.Health {
	return adminapi.Health{Status: "ok", PublicKey: g.PublicKey().String(), ListenPort: g.ListenPort(),
		Address: g.conf().Tunnel.Address, Endpoint: g.conf().Tunnel.Endpoint, Sessions: g.SessionCount(), Devices: len(g.Snapshot()),
		Portmap: g.PortmapStatus(), PortmapPublic: g.PortmapPublicStatus(), Cluster: g.ClusterHealth()}
}

// Now is the clock policy decisions use.
func (g *Gateway) Now() time.Time { return g.clock() }

// Denials lists refusals in [from, to), newest first.
func (g *Gateway) Denials(ctx context.Context, from, to time.Time, limit int) ([]store.AuditDenialRow, error) {
	g.audit.SyncTimeout(time.Second)
	return g.st.AuditDenials(ctx, from, to, limit)
}

// DDNS is the dynamic DNS status.
func (g *Gateway) DDNS() adminapi.DDNSView {
	m := g.ddnsManager()
	return adminapi.DDNSView{Enabled: m != nil, Host: m.HostOrEmpty(), Providers: orEmpty(g.DDNSStatus())}
}

// DDNSCheck runs one check now and returns the status after it.
func (g *Gateway) DDNSCheck(ctx context.Context) (adminapi.DDNSView, error) {
	m := g.ddnsManager()
	if m == nil {
		return adminapi.DDNSView{}, errors.New("ddns is not configured (ddns.host in licgate.yaml)")
	}
	m.Check(ctx)
	return adminapi.DDNSView{Enabled: true, Host: m.Host, Providers: orEmpty(m.Status())}, nil
}

func orEmpty(s []ddns.Status) []ddns.Status {
	if s == nil {
		return []ddns.Status{}
	}
	return s
}

// Certs lists the certificates served.
func (g *Gateway) Certs() []certs.View { return g.certs.Views(g.conf().Tunnel.Address) }
