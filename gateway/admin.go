package gateway

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

type ctxKey int

const identityKey ctxKey = 1

// startAdmin serves the admin API (and console) over HTTPS inside the
// tunnel, and on the LAN listener if configured.
func (g *Gateway) startAdmin(ctx context.Context) error {
	tlsCfg, err := g.certs.TunnelTLS(ctx, g.cfg.Tunnel.Address)
	if err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	ln, err := g.tun.ListenTCP(netip.AddrPortFrom(g.cfg.GatewayAddr(), uint16(g.cfg.Admin.Port)))
	if err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	g.adminSrv = &http.Server{Handler: g.tunnelAdmin(g.Handler()), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelDebug)}
	g.wg.Add(1)
	go g.serveHTTP(g.adminSrv, tls.NewListener(ln, tlsCfg), "admin (tunnel)")
	if g.cfg.Admin.LANListen != "" {
		tok, err := os.ReadFile(g.cfg.Admin.TokenFile)
		if err != nil {
			return fmt.Errorf("admin.token_file: %w", err)
		}
		token := strings.TrimSpace(string(tok))
		if len(token) < 20 {
			return fmt.Errorf("admin.token_file %s: the token must be at least 20 characters", g.cfg.Admin.TokenFile)
		}
		lln, err := net.Listen("tcp", g.cfg.Admin.LANListen)
		if err != nil {
			return fmt.Errorf("admin.lan_listen: %w", err)
		}
		lanCfg := tlsCfg.Clone()
		g.lanSrv = &http.Server{Handler: tokenAuth(token, g.Handler()), ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelDebug)}
		g.lanLn = lln
		g.wg.Add(1)
		go g.serveHTTP(g.lanSrv, tls.NewListener(lln, lanCfg), "admin (LAN)")
	}
	return nil
}

func (g *Gateway) serveHTTP(srv *http.Server, ln net.Listener, what string) {
	defer g.wg.Done()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		g.log.Error("listener stopped", slog.String("listener", what), slog.String("err", err.Error()))
	}
}

// tunnelAdmin lets through only devices whose user is in the admin group,
// and records the acting identity for the audit log.
func (g *Gateway) tunnelAdmin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		src, err := netip.ParseAddrPort(r.RemoteAddr)
		id, ok := g.identify(src.Addr())
		if err != nil || !ok || id.UserDisabled || !slices.Contains(g.Engine().GroupsOf(id.User), g.cfg.Admin.Group) {
			who := src.Addr().String()
			if ok {
				who = id.User + "/" + id.Device
			}
			g.log.Info("admin access refused", slog.String("from", who), slog.String("path", r.URL.Path))
			writeJSON(w, http.StatusForbidden, APIError{Error: "only devices of the " + g.cfg.Admin.Group + " group may use the admin console"})
			return
		}
		ctx := WithActor(r.Context(), id.User+"/"+id.Device)
		h.ServeHTTP(w, r.WithContext(context.WithValue(ctx, identityKey, id)))
	})
}

func tokenAuth(token string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			writeJSON(w, http.StatusUnauthorized, APIError{Error: "missing or wrong bearer token"})
			return
		}
		h.ServeHTTP(w, r.WithContext(WithActor(r.Context(), "lan-token from "+r.RemoteAddr)))
	})
}

// LANAddr is the LAN admin listener's address (nil if none).
func (g *Gateway) LANAddr() net.Addr {
	if g.lanLn == nil {
		return nil
	}
	return g.lanLn.Addr()
}
