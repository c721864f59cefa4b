package gateway

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

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

func (g *Gateway) startDDNS(ctx context.Context) error {
	m, err := g.cfg.ddnsManager()
	if err != nil {
		return err
	}
	m.State = ddnsState{g}
	m.Logger = g.log.With(slog.String("component", "ddns"))
	m.Watch = ddns.WatchInterfaces(ctx, m.Logger)
	m.OnChange = func(fam ddns.Family, old, new netip.Addr) {
		// Home WireGuard clients resolve the Endpoint only when their
		// tunnel starts: the generated re-resolve helper brings them back.
		g.log.Warn("office public address changed", slog.String("family", fam.String()), slog.String("old", old.String()),
			slog.String("new", new.String()), slog.String("host", m.Host))
		g.auditEvent("ddns", "ddns.address_change", fam.String()+" "+old.String()+" -> "+new.String())
		g.metrics.ddnsChangeTime.WithLabelValues(fam.String()).SetToCurrentTime()
	}
	m.OnResult = func(p string, fam ddns.Family, result string) {
		g.metrics.ddnsResults.WithLabelValues(p, fam.String(), result).Inc()
	}
	g.ddns = m
	g.wg.Add(1)
	go g.runDDNS(ctx)
	return nil
}

func (g *Gateway) runDDNS(ctx context.Context) {
	defer g.wg.Done()
	g.ddns.Run(ctx)
}

// DDNSStatus reports every provider; nil without DDNS.
func (g *Gateway) DDNSStatus() []ddns.Status {
	if g.ddns == nil {
		return nil
	}
	return g.ddns.Status()
}

// DDNSCheck runs one check now and returns the status after it.
func (g *Gateway) DDNSCheck(ctx context.Context) []ddns.Status {
	if g.ddns == nil {
		return nil
	}
	g.ddns.Check(ctx)
	return g.ddns.Status()
}
