package doctor

import (
	"errors"
	"net"
	"slices"
	"strconv"
	"syscall"

	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/licmgr"
)

// licenseServers checks what services[].type adds: each license file's
// lint findings (an unpinned vendor daemon already fails the config), and
// every TCP port of the manager beyond the main one (a vendor daemon's or
// ISV server's pinned port, which only answers once the license manager
// was restarted after pinning it).
func (d *Doctor) licenseServers(cfg *config.Config) {
	for _, s := range cfg.Services {
		for _, f := range s.LicenseFindings {
			level := levelWarn
			if f.Severity == licmgr.SevError {
				level = levelFail
			}
			fix := ""
			if f.Fix != "" {
				fix = "; write: " + f.Fix
			}
			d.add(level, "license file "+s.Name, "%s:%d: %s%s", f.File, f.Line, f.Message, fix)
		}
		if s.Type == "" {
			continue
		}
		host, _, err := net.SplitHostPort(s.Upstream)
		if err != nil {
			continue
		}
		for _, p := range s.Ports {
			if p.Port == s.Port || p.Role == licmgr.RoleAdmin || !slices.Contains(p.Protocols, "tcp") {
				continue // the main port is upstreams' check; admin pages are optional
			}
			if p.Role == licmgr.RoleLookup {
				continue // lmgrd's default range: only one of them answers
			}
			addr := net.JoinHostPort(host, strconv.Itoa(p.Port))
			what := "upstream " + s.Name + " " + p.Name
			c, err := net.DialTimeout("tcp", addr, d.timeout())
			switch {
			case err == nil:
				c.Close()
				d.add(levelOK, what, "%s answers", addr)
			case errors.Is(err, syscall.ECONNREFUSED):
				d.add(levelFail, what, "%s refuses connections: is the port pinned in the license file and the license manager restarted since (lmgrd, rlm)?", addr)
			default:
				d.add(levelFail, what, "%s: %v (a firewall on the license server must let this port through too)", addr, err)
			}
		}
	}
}
