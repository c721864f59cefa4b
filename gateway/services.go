package gateway

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/licgate/licgate/admission"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/licmgr"
	"github.com/licgate/licgate/proxy"
	"github.com/licgate/licgate/transparent"
)

// WithLicenseStatus replaces how the gateway reads a FlexNet or RLM
// server's own status (default: admission.RunStatus, the vendor's
// lmutil/rlmutil on PATH). Tests read licsim's.
func WithLicenseStatus(f admission.StatusFunc) Option {
	return func(g *Gateway) { g.licStatus = f }
}

// startService listens on every port of a service (sc.Ports: the
// manager's lookup, license and admin ports, or the one port of an
// untyped service) at the tunnel address, each with a proxy of its own
// to the same port number upstream: caps count only on the ports that
// hold seats, and a port shared with the manager's web administration
// (Sentinel LDK) refuses its admin pages.
func (g *Gateway) startService(sc config.ServiceConfig) error {
	g.sessions.SetReplace(g.reconnect)
	ports := sc.Ports
	if len(ports) == 0 { // a config not from Load
		ports = []licmgr.Port{{Name: "license", Port: sc.Port, Protocols: sc.Protocols, Role: licmgr.RoleLicense, HoldsSeats: true}}
	}
	for _, pt := range ports {
		if err := g.startPort(sc, pt); err != nil {
			return fmt.Errorf("service %s: %s port %d: %w", sc.Name, pt.Name, pt.Port, err)
		}
	}
	return nil
}

// reconnect is the reconnect rule of the service in force
// (services[].reconnect_silence), as the session table asks it.
func (g *Gateway) reconnect(now time.Time, device, service string, newHoldsSeats bool, live []licmgr.Held) []uint64 {
	for i := range g.conf().Services {
		if sc := &g.conf().Services[i]; sc.Name == service {
			return sc.Reconnect.Supersede(now, device, service, newHoldsSeats, live)
		}
	}
	return nil
}

// upstreamFor is where port pt of sc is dialled: the service's own
// upstream for its main port (and for an untyped service), the same
// host at pt's number otherwise (licmgr.UpstreamFor).
func upstreamFor(sc config.ServiceConfig, pt licmgr.Port) string {
	if sc.Type == "" || pt.Port == sc.Port {
		return sc.Upstream
	}
	host, _, err := net.SplitHostPort(sc.Upstream)
	if err != nil {
		host = sc.Upstream
	}
	return licmgr.UpstreamFor(host, pt)
}

func (g *Gateway) startPort(sc config.ServiceConfig, pt licmgr.Port) error {
	p := &proxy.Proxy{
		Service:                 sc.Name,
		Upstream:                upstreamFor(sc, pt),
		Port:                    pt.Port,
		NoSeats:                 !pt.HoldsSeats,
		FilterAdmin:             pt.SharesAdmin,
		DialTimeout:             sc.DialTimeout.Duration,
		UDPIdleTimeout:          sc.UDPIdleTimeout.Duration,
		HalfCloseTimeout:        sc.HalfCloseTimeout.Duration,
		MaxUDPMappingsPerDevice: sc.UDPMappingsPerDevice,
		MaxUDPMappings:          sc.UDPMappings,
		CountUDP:                pt.HoldsSeats && len(pt.Protocols) == 1 && pt.Protocols[0] == "udp",
		Identify:                g.Identify,
		Authorize:               g.Authorize,
		OnDeny:                  g.denied,
		OnDial: func(service string, d time.Duration, err error) {
			if err == nil {
				g.metrics.DialSeconds.WithLabelValues(service).Observe(d.Seconds())
			}
		},
		Sessions: g.sessions,
		Logger:   g.log.With(slog.String("component", "proxy"), slog.Int("port", pt.Port)),
	}
	if sc.Source == "tunnel" {
		p.DialFrom = (&transparent.Dialer{Subnet: g.conf().SubnetPrefix()}).DialFrom
	}
	g.onClose(func() { p.Close() })
	at := netip.AddrPortFrom(g.conf().GatewayAddr(), uint16(pt.Port))
	for _, proto := range pt.Protocols {
		switch proto {
		case "tcp":
			ln, err := g.tun.ListenTCP(at)
			if err != nil {
				return err
			}
			g.wg.Add(1)
			go g.serveTCP(p, ln)
		case "udp":
			pc, err := g.tun.ListenUDP(at)
			if err != nil {
				return err
			}
			g.wg.Add(1)
			go g.serveUDP(p, pc)
		}
	}
	return nil
}

func (g *Gateway) serveTCP(p *proxy.Proxy, ln net.Listener) {
	defer g.wg.Done()
	if err := p.ServeTCP(ln); err != nil {
		g.log.Error("proxy stopped", slog.String("service", p.Service), slog.String("err", err.Error()))
	}
}

func (g *Gateway) serveUDP(p *proxy.Proxy, pc net.PacketConn) {
	defer g.wg.Done()
	if err := p.ServeUDP(pc); err != nil {
		g.log.Error("proxy stopped", slog.String("service", p.Service), slog.String("err", err.Error()))
	}
}

// services are the configured services, as admission reads them.
func (g *Gateway) services() []admission.Service {
	svcs := g.conf().Services
	out := make([]admission.Service, len(svcs))
	for i, s := range svcs {
		out[i] = admission.Service{Name: s.Name, Port: s.Port, Protocols: s.Protocols, Upstream: s.Upstream, Settings: &svcs[i].Settings}
	}
	return out
}

// licensesRoute is GET /api/v1/licenses (adminapi.Options.Mount).
func (g *Gateway) licensesRoute(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/licenses", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(g.Licenses(r.Context()))
	})
}
