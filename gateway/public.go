package gateway

import (
	"context"
	"crypto/tls"
	_ "embed"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"

	"github.com/licgate/licgate/certs"
	"github.com/licgate/licgate/portmap"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/enroll"
)

// startPublic serves enrolment links over HTTPS. Certificates come from
// certmagic with licgate's internal CA as issuer.
func (g *Gateway) startPublic(ctx context.Context) error {
	p := g.conf().Public
	acme, err := p.ACME.Provision(func(name string) (certs.DNS01, error) { return g.conf().DDNS.RFC2136(name) })
	if err != nil {
		return err
	}
	tlsCfg, err := g.certs.PublicTLS(ctx, p.Name, acme)
	if err != nil {
		return fmt.Errorf("public listener: %w", err)
	}
	ln, err := net.Listen("tcp", p.Listen)
	if err != nil {
		return fmt.Errorf("public listener %s: %w", p.Listen, err)
	}
	g.publicLn = ln
	es := enroll.New(g.Manager, g.log.With(slog.String("component", "enroll"))).WithLicenses(g.Controller.Bundles)
	if g.conf().Signin.Issuer != "" {
		p, err := g.portal.Provider()
		if err != nil {
			ln.Close()
			return fmt.Errorf("public listener: %w", err)
		}
		es.WithSignIn(p, g.portal, g.conf().Signin.Enrol.Enabled)
	}
	srv := adminapi.NewServer(es.Handler(), g.log)
	g.onClose(func() { shutdown(srv) })
	g.wg.Add(1)
	go g.serveHTTP(srv, tls.NewListener(adminapi.LimitListener(ln), tlsCfg), "public")
	g.log.Info("public listener up", slog.String("listen", ln.Addr().String()), slog.String("name", p.Name))
	if g.conf().Portmap.Enabled {
		// The enrolment links open on this port: map it too (TCP). The
		// external port asked for first is 443 when ACME's TLS-ALPN-01
		// must reach it there, else the listener's; a router that
		// refuses 443 (the usual rule allows 1024-65535) gets asked for
		// the listener's port instead, and links carry whichever was
		// granted (publicMappedPort).
		pc := g.conf().PortmapMapper()
		pc.Network, pc.Description = "tcp", "licgate enrolment page"
		pc.InternalPort = ln.Addr().(*net.TCPAddr).Port
		pc.ExternalPort = 0
		if _, err := netip.ParseAddr(p.Name); err != nil && acme.Directory != "off" && slices.Contains(acme.Challenges, "tls-alpn-01") {
			pc.ExternalPort = 443
		}
		g.portmapPublic = portmap.New(pc, g.log.With(slog.String("component", "portmap"), slog.String("network", "tcp")))
		g.onClose(func() { g.portmapPublic.Close() })
		go g.runPortmap(g.portmapPublic)
	}
	return nil
}

// publicMappedPort is the router's external port for the public listener
// once its mapping is granted (0 before, or without portmap): the port
// enrolment and sign-in links must carry.
func (g *Gateway) publicMappedPort() int {
	if g.portmapPublic == nil {
		return 0
	}
	if st := g.portmapPublic.Status(); st.State == "mapped" {
		return st.ExternalPort
	}
	return 0
}

// PublicAddr is the public listener's address (nil if none).
func (g *Gateway) PublicAddr() net.Addr {
	if g.publicLn == nil {
		return nil
	}
	return g.publicLn.Addr()
}

// CARoot is the internal CA's certificate (PEM), once the public listener started it.
func (g *Gateway) CARoot() ([]byte, error) {
	return g.certs.RootPEM()
}
