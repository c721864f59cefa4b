package gateway

import (
	"context"
	"log/slog"
	"net/netip"

	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/store"

	"github.com/licgate/licgate/ddns"
	"github.com/licgate/licgate/ddns/ddnsconfig"
)

func (g *Gateway) startDDNS(parent context.Context, cfg *config.Config) error {
	m, err := ddnsconfig.New(cfg.DDNS)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(parent)
	done := make(chan struct{})
	g.ddnsStop = func() { cancel(); <-done }
	m.State = store.DDNSStateStore{Store: g.st}
	if g.portmap != nil && m.Detector != nil {
		// The router's external address is one vote in the quorum.
		m.Detector.Sources = append(m.Detector.Sources, g.portmap)
	}
	m.Logger = g.log.With(slog.String("component", "ddns"))
	m.Watch = ddns.WatchInterfaces(ctx, m.Logger)
	m.OnChange = func(fam ddns.Family, old, new netip.Addr) {
		// Home WireGuard clients resolve the Endpoint only when their
		// tunnel starts: the generated re-resolve helper brings them back.
		g.log.Warn("office public address changed", slog.String("family", fam.String()), slog.String("old", old.String()),
			slog.String("new", new.String()), slog.String("host", m.Host))
		g.auditEvent("ddns", "ddns.address_change", fam.String()+" "+old.String()+" -> "+new.String())
		g.metrics.DDNSChangeTime.WithLabelValues(fam.String()).SetToCurrentTime()
	}
	m.OnResult = func(p string, fam ddns.Family, result string) {
		g.metrics.DDNSResults.WithLabelValues(p, fam.String(), result).Inc()
	}
	g.ddnsMu.Lock()
	g.ddns = m
	g.ddnsMu.Unlock()
	g.wg.Add(1)
	go g.runDDNS(ctx, m, done)
	return nil
}

func (g *Gateway) runDDNS(ctx context.Context, m *ddns.Manager, done chan struct{}) {
	defer g.wg.Done()
	defer close(done)
	m.Run(ctx)
}

// reloadDDNS restarts DDNS when its configuration changed, so a fixed
// provider configuration (after a fatal answer) takes effect.
func (g *Gateway) reloadDDNS(cfg *config.Config) error {
	if g.ddnsStop != nil {
		g.ddnsStop()
		g.ddnsStop = nil
	}
	g.ddnsMu.Lock()
	g.ddns = nil
	g.ddnsMu.Unlock()
	g.conf().DDNS = cfg.DDNS
	if cfg.DDNS.Host == "" {
		return nil
	}
	g.log.Info("ddns configuration changed: restarting ddns")
	return g.startDDNS(g.loopCtx, cfg)
}

func (g *Gateway) ddnsManager() *ddns.Manager {
	g.ddnsMu.Lock()
	defer g.ddnsMu.Unlock()
	return g.ddns
}

// DDNSStatus reports every provider; nil without DDNS.
func (g *Gateway) DDNSStatus() []ddns.Status {
	m := g.ddnsManager()
	if m == nil {
		return nil
	}
	return m.Status()
}
