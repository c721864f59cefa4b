package gateway

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/licgate/licgate/certs"
	"github.com/licgate/licgate/cluster"
	"github.com/licgate/licgate/portmap"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/enroll"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/tunnel"
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
	es := enroll.New(g, g.log.With(slog.String("component", "enroll")))
	if g.conf().Signin.Issuer != "" {
		p, err := g.signinProvider()
		if err != nil {
			ln.Close()
			return fmt.Errorf("public listener: %w", err)
		}
		es.WithSignIn(p, g, g.conf().Signin.Enrol.Enabled)
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

// CreateEnrollLink makes a single-use link that enrols device for user:
// opening it shows a form; submitting the form creates the device (with a
// key pair made then, or the user's own public key) and shows the
// profile, QR code and helpers. Only a hash of the token is stored.
func (g *Gateway) CreateEnrollLink(ctx context.Context, user, device string, ttl time.Duration) (string, time.Time, error) {
	if g.conf().Public.Listen == "" {
		return "", time.Time{}, fmt.Errorf("gateway: %w", adminapi.ErrNoPublicListener)
	}
	if ttl <= 0 {
		ttl = g.conf().Public.LinkTTL.Duration
	}
	if _, err := g.st.Device(ctx, user, device); err == nil {
		return "", time.Time{}, fmt.Errorf("gateway: device %s/%s: %w", user, device, store.ErrExists)
	}
	b := make([]byte, 32)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	expires := time.Now().Add(ttl)
	if err := g.st.CreateEnrollment(ctx, enroll.TokenHash(token), user, device, expires); err != nil {
		return "", time.Time{}, err
	}
	g.auditEvent(audit.ActorOf(ctx), "enroll.link", fmt.Sprintf("%s/%s expires %s", user, device, expires.UTC().Format(time.RFC3339)))
	return g.publicURL() + "/enroll/" + token, expires, nil
}

// Peek checks an enrolment link without using it.
func (g *Gateway) Peek(ctx context.Context, tokenHash string) (store.Enrollment, error) {
	return g.st.PeekEnrollment(ctx, tokenHash)
}

// Enrol uses an enrolment link: the claim and the device are one
// transaction, so a device that cannot be created leaves the link valid.
func (g *Gateway) Enrol(ctx context.Context, tokenHash, from, publicKey string) (enroll.Result, error) {
	priv, publicKey, err := deviceKey(publicKey)
	if err != nil {
		return enroll.Result{}, fmt.Errorf("gateway: enrol: %w: %w", enroll.ErrBadKey, err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	e, d, err := g.st.ClaimEnrollmentAndAddDevice(ctx, tokenHash, from, store.NewDevice{PublicKey: publicKey}, g.pool())
	if err != nil {
		if errors.Is(err, store.ErrExists) && publicKey != "" {
			return enroll.Result{}, fmt.Errorf("gateway: enrol: %w: %w", enroll.ErrBadKey, err)
		}
		return enroll.Result{}, fmt.Errorf("gateway: enrol: %w", err)
	}
	if err := g.syncPeers(ctx); err != nil {
		return enroll.Result{}, fmt.Errorf("gateway: enrol %s/%s: %w", e.User, e.Device, err)
	}
	g.notify(cluster.KindDevices, e.User, e.Device)
	actor := "enrolment link from " + from
	g.log.Info("device enrolled", slog.String("user", e.User), slog.String("device", e.Device), slog.String("from", from))
	res := enroll.Result{User: e.User, Device: e.Device, Gateway: g.conf().Tunnel.Address}
	if priv == (tunnel.Key{}) {
		// The user keeps their private key: show what goes around it.
		p := g.profile(d, tunnel.Key{})
		res.ProfileText = strings.Replace(p.String(), "PrivateKey = "+tunnel.Key{}.String(), "# PrivateKey = (your own private key)", 1)
		g.auditEvent(actor, "device.enrolled", fmt.Sprintf("%s/%s with own key by %s", e.User, e.Device, from))
		return res, nil
	}
	dr := g.deviceResult(d, priv)
	res.Profile, res.ProfileText = dr.Profile, dr.ProfileText
	g.auditEvent(actor, "device.enrolled", fmt.Sprintf("%s/%s by %s", e.User, e.Device, from))
	return res, nil
}
