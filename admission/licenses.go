package admission

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/licgate/licgate/licmgr"
	"github.com/licgate/licgate/session"
)

// StatusFunc reads a license manager's own status at host:port (its
// lookup port: lmgrd's, rlm's). RunStatus is the default.
type StatusFunc func(ctx context.Context, kind licmgr.Kind, host string, port int) (*licmgr.Usage, error)

// RunStatus runs the manager's own status tool (licmgr.StatusCommand:
// `lmutil lmstat -a -c port@host`, `rlmutil rlmstat -a -c port@host`),
// found on PATH, and parses its output.
func RunStatus(ctx context.Context, kind licmgr.Kind, host string, port int) (*licmgr.Usage, error) {
	name, args, ok := licmgr.StatusCommand(kind, port, host)
	if !ok {
		return nil, fmt.Errorf("admission: %s has no status tool licgate reads", kind)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout = &out
	now := time.Now()
	if err := cmd.Run(); err != nil && out.Len() == 0 {
		return nil, fmt.Errorf("admission: license status: %s %s: %w", name, strings.Join(args, " "), err)
	}
	return ParseStatus(kind, out.Bytes(), now)
}

// ParseStatus parses a status tool's output for kind.
func ParseStatus(kind licmgr.Kind, out []byte, ref time.Time) (*licmgr.Usage, error) {
	if kind == licmgr.RLM {
		return licmgr.ParseRlmstat(bytes.NewReader(out), ref)
	}
	return licmgr.ParseLmstat(bytes.NewReader(out), ref)
}

// ServiceLicenses is one service's seats: from the license manager's own
// status where licgate reads it (Source "server"), from licgate's seat
// sessions otherwise (Source "licgate").
type ServiceLicenses struct {
	Service string `json:"service"`
	Type    string `json:"type"`
	Source  string `json:"source"`
	Error   string `json:"error,omitempty"` // why the server's status was not read
	// Findings are the license file's errors (a vendor daemon or ISV
	// server without a pinned port: unreachable through any gateway).
	Findings []string       `json:"findings,omitempty"`
	Features []FeatureSeats `json:"features"`
}

// FeatureSeats is a feature's (product's) seats: Total is -1 when not
// known (licgate's own sessions, uncounted licenses).
type FeatureSeats struct {
	Name    string       `json:"name"`
	Total   int          `json:"total"`
	InUse   int          `json:"in_use"`
	Holders []SeatHolder `json:"holders"`
}

// SeatHolder is one holder: the licgate user and device when a session
// matches, and the server's own user@host.
type SeatHolder struct {
	User    string    `json:"user,omitempty"`
	Device  string    `json:"device,omitempty"`
	Session uint64    `json:"session,omitempty"`
	Server  string    `json:"server_user,omitempty"` // user@host as the server reports it
	Count   int       `json:"count"`
	Since   time.Time `json:"since"`
}

// Who is how a refusal names the holder: "alice/laptop", or the server's
// user@host when no licgate session matches.
func (h SeatHolder) Who() string {
	if h.User != "" {
		return h.User + "/" + h.Device
	}
	return h.Server
}

// FromUsage joins the server's status with licgate's seat sessions of
// the service: a holder matches a session whose device's tunnel address
// or name is the holder's host, or else whose user is the holder's user;
// each session matches one holder at most, oldest first.
func FromUsage(service string, kind licmgr.Kind, u *licmgr.Usage, seats []session.SessionInfo) ServiceLicenses {
	out := ServiceLicenses{Service: service, Type: string(kind), Source: "server"}
	used := map[uint64]bool{}
	for _, f := range u.Features {
		fs := FeatureSeats{Name: f.Name, Total: f.Total, InUse: f.InUse}
		for _, h := range f.Holders {
			sh := SeatHolder{Server: h.User + "@" + h.Host, Count: h.Count, Since: h.Start}
			if s, ok := matchHolder(h, seats, used); ok {
				used[s.ID] = true
				sh.User, sh.Device, sh.Session, sh.Since = s.User, s.Device, s.ID, s.Start
			}
			fs.Holders = append(fs.Holders, sh)
		}
		out.Features = append(out.Features, fs)
	}
	return out
}

func matchHolder(h licmgr.Holder, seats []session.SessionInfo, used map[uint64]bool) (session.SessionInfo, bool) {
	host := strings.ToLower(h.Host)
	if i := strings.IndexByte(host, '.'); i > 0 && net.ParseIP(host) == nil {
		host = host[:i] // a FQDN: the device is named by its short name
	}
	tries := []func(session.SessionInfo) bool{
		func(s session.SessionInfo) bool {
			ap, err := netip.ParseAddrPort(s.Client)
			return err == nil && ap.Addr().String() == h.Host
		},
		func(s session.SessionInfo) bool { return strings.EqualFold(s.Device, host) },
		func(s session.SessionInfo) bool { return strings.EqualFold(s.User, h.User) },
	}
	for _, try := range tries {
		for _, s := range seats {
			if !used[s.ID] && try(s) {
				return s, true
			}
		}
	}
	return session.SessionInfo{}, false
}

// FromSessions is a service's seats as licgate sees them: its seat
// sessions, one holder each (total unknown).
func FromSessions(service string, kind licmgr.Kind, seats []session.SessionInfo) ServiceLicenses {
	out := ServiceLicenses{Service: service, Type: string(kind), Source: "licgate"}
	fs := FeatureSeats{Name: service, Total: -1}
	for _, s := range seats {
		if s.Service != service {
			continue
		}
		fs.InUse++
		fs.Holders = append(fs.Holders, SeatHolder{User: s.User, Device: s.Device, Session: s.ID, Count: 1, Since: s.Start})
	}
	out.Features = []FeatureSeats{fs}
	return out
}

// RefusalText names who holds a service's seats, for a cap refusal:
// "3 of 3 in use: alice/laptop 2 h, bob/pc 20 min" per feature that is
// full (every feature when none is), at most max holders each.
func (l ServiceLicenses) RefusalText(now time.Time, max int) string {
	var parts []string
	for _, f := range l.Features {
		if f.Total >= 0 && f.InUse < f.Total && len(l.Features) > 1 {
			continue
		}
		var hs []licmgr.Seat
		for _, h := range f.Holders {
			hs = append(hs, licmgr.Seat{Who: h.Who(), Since: h.Since})
		}
		sort.SliceStable(hs, func(i, j int) bool { return hs[i].Since.Before(hs[j].Since) })
		total := f.Total
		if total < 0 {
			total = f.InUse
		}
		text := licmgr.RefusalText(total, f.InUse, hs, now, max)
		if len(l.Features) > 1 || l.Source == "server" {
			text = f.Name + ": " + text
		}
		parts = append(parts, text)
	}
	return strings.Join(parts, "; ")
}

// statusMemo keeps each license server's status for statusFresh, and
// runs one status query per server at a time: a burst of cap refusals
// (each names the holders) costs one lmutil run, not one per refusal.
type statusMemo struct {
	mu sync.Mutex // held while a query runs: callers for the same moment wait for it
	m  map[string]memoEntry
}

type memoEntry struct {
	at  time.Time
	u   *licmgr.Usage
	err error
}

// statusFresh is how long a status is reused.
const statusFresh = 5 * time.Second

func (sm *statusMemo) get(ctx context.Context, status StatusFunc, kind licmgr.Kind, host string, port int) (*licmgr.Usage, error) {
	key := fmt.Sprintf("%s %s %d", kind, host, port)
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if e, ok := sm.m[key]; ok && time.Since(e.at) < statusFresh {
		return e.u, e.err
	}
	u, err := status(ctx, kind, host, port)
	if sm.m == nil {
		sm.m = map[string]memoEntry{}
	}
	sm.m[key] = memoEntry{at: time.Now(), u: u, err: err}
	return u, err
}
