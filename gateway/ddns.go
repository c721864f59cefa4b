package gateway

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/store"

	"github.com/licgate/licgate/ddns"
)

// ddnsState persists each provider's accepted address in the store.
type ddnsState struct{ g *Gateway }

func (s ddnsState) LoadDDNS(p string, f ddns.Family) (netip.Addr, error) {
	return s.g.st.DDNSAddr(context.Background(), p, f.String())
}

func (s ddnsState) SaveDDNS(p string, f ddns.Family, a netip.Addr, at time.Time) error {
	return s.g.st.SetDDNSAddr(context.Background(), p, f.String(), a, at)
}

func (g *Gateway) startDDNS(parent context.Context, cfg *config.Config) error {
	m, err := cfg.DDNSManager()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(parent)
	done := make(chan struct{})
	g.ddnsStop = func() { cancel(); <-done }
	m.State = ddnsState{g}
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

// DDNSHold reads a provider's persisted stop or back-off.
func (s ddnsState) DDNSHold(ctx context.Context, p string) (ddns.Hold, error) {
	h, err := s.g.st.DDNSHold(ctx, p)
	return ddns.Hold{Reason: h.Reason, Fatal: h.Fatal, Until: h.BackoffUntil, ConfigFingerprint: h.Fingerprint}, err
}

// SetDDNSHold persists a provider's stop or back-off, so a restart obeys it.
func (s ddnsState) SetDDNSHold(ctx context.Context, p string, h ddns.Hold) error {
	return s.g.st.SetDDNSHold(ctx, p, store.DDNSHold{Reason: h.Reason, Fatal: h.Fatal, BackoffUntil: h.Until, Fingerprint: h.ConfigFingerprint})
}

// ClearDDNSHold removes a provider's hold.
func (s ddnsState) ClearDDNSHold(ctx context.Context, p string) error {
	return s.g.st.ClearDDNSHold(ctx, p)
}
