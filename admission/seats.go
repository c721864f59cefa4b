package admission

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/licgate/licgate/licmgr"
	"github.com/licgate/licgate/session"
)

// LicenseService is what admission needs of a configured service to say
// who holds its seats.
type LicenseService struct {
	Name string
	// Upstream is the license server, host[:port].
	Upstream string
	// Settings are the service's license manager settings (its kind,
	// resolved ports and the license file's findings).
	*licmgr.Settings
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

func (c *Controller) services() []LicenseService {
	if c.d.Services == nil {
		return nil
	}
	return c.d.Services()
}

func (c *Controller) serviceLicenses(ctx context.Context, sc LicenseService) ServiceLicenses {
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
func lookupPort(sc LicenseService) (int, bool) {
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
