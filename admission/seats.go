package admission

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/licmgr"
	"github.com/licgate/licgate/session"
)

// Service is what admission needs of a configured license service: to
// say who holds its seats, and for the API's and the metrics' views.
type Service struct {
	Name string
	// Port and Protocols are where the gateway listens for it (its main
	// port); Upstream is the license server, host[:port].
	Port      int
	Protocols []string
	Upstream  string
	// Settings are the service's license manager settings (its kind,
	// resolved ports and the license file's findings).
	*licmgr.Settings
}

// Services lists the proxied services with their live TCP sessions and
// the policy's pool for each.
func (c *Controller) Services() []adminapi.ServiceView {
	held := map[string]int{}
	for _, s := range c.d.Sessions.List() {
		if s.Proto == "tcp" {
			held[s.Service]++
		}
	}
	eng := c.Engine()
	out := []adminapi.ServiceView{}
	for _, s := range c.services() {
		out = append(out, adminapi.ServiceView{Name: s.Name, Port: s.Port, Protocols: s.Protocols, Upstream: s.Upstream,
			Sessions: held[s.Name], Pool: eng.ServicePool(s.Name)})
	}
	return out
}

// ServiceProtocols lists each service's protocols (metrics).
func (c *Controller) ServiceProtocols() map[string][]string {
	out := map[string][]string{}
	for _, s := range c.services() {
		out[s.Name] = s.Protocols
	}
	return out
}

// Licenses is, per service, who holds its seats: the manager's own
// status joined with licgate's sessions (FlexNet, RLM), or licgate's
// seat sessions (the other managers, or when the status cannot be read).
func (c *Controller) Licenses(ctx context.Context) []ServiceLicenses {
	svcs := c.services()
	out := make([]ServiceLicenses, 0, len(svcs))
	for _, sc := range svcs {
		out = append(out, c.serviceLicenses(ctx, sc))
	}
	return out
}

func (c *Controller) services() []Service {
	if c.d.Services == nil {
		return nil
	}
	return c.d.Services()
}

func (c *Controller) serviceLicenses(ctx context.Context, sc Service) ServiceLicenses {
	var seats []session.SessionInfo
	for _, s := range c.d.Sessions.Seats() {
		if s.Service == sc.Name {
			seats = append(seats, s)
		}
	}
	kind := sc.Kind()
	var l ServiceLicenses
	var statusErr error
	if lookup, ok := lookupPort(sc); ok && (kind == licmgr.FlexNet || kind == licmgr.RLM) {
		status := c.d.Status
		if status == nil {
			status = RunStatus
		}
		host, _, err := net.SplitHostPort(sc.Upstream)
		if err != nil {
			host = sc.Upstream
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		u, err := c.status.get(ctx, status, kind, host, lookup)
		cancel()
		if err == nil {
			l = FromUsage(sc.Name, kind, u, seats)
		}
		statusErr = err
	}
	if l.Source == "" {
		l = FromSessions(sc.Name, kind, seats)
		if statusErr != nil {
			l.Error = statusErr.Error()
		}
	}
	for _, f := range sc.LicenseFindings {
		if f.Severity == licmgr.SevError {
			l.Findings = append(l.Findings, fmt.Sprintf("%s:%d: %s", f.File, f.Line, f.Message))
		}
	}
	return l
}

// lookupPort is the service's lmgrd or rlm port.
func lookupPort(sc Service) (int, bool) {
	for _, pt := range sc.Ports {
		if pt.Role == licmgr.RoleLookup {
			return pt.Port, true
		}
	}
	return 0, false
}

// NameHolders adds to a cap refusal who holds the seats ("3 of 3 in
// use: alice/laptop 2 h, ...") and the license file's unpinned daemons.
func (c *Controller) NameHolders(d session.Denial) session.Denial {
	if d.Kind != session.DenyKindCap {
		return d
	}
	for _, sc := range c.services() {
		if sc.Name != d.Service {
			continue
		}
		l := c.serviceLicenses(context.Background(), sc)
		d.Reason += " (" + l.RefusalText(time.Now(), 5) + ")"
		for _, f := range l.Findings {
			d.Reason += "; " + f
		}
	}
	return d
}
