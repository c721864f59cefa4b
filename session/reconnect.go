package session

import (
	"strconv"
	"time"

	"github.com/licgate/licgate/licmgr"
)

// Replacer is the reconnect rule as the table asks it:
// licmgr.ReconnectRule.Supersede's signature. device is the device's ID
// in decimal; live are the device's other sessions to service.
type Replacer func(now time.Time, device, service string, newHoldsSeats bool, live []licmgr.Held) []uint64

// replaceLocked applies Replace to a new session s before it is decided:
// the device's earlier seat sessions to the same service that the rule
// says s replaces leave the counts at once (so a reconnecting device is
// not refused by the cap its own lingering seat fills) and are returned,
// to be cut once s is admitted, or counted again if it is refused. Only
// TCP sessions take part: a UDP mapping's silence is not tracked.
func (t *SessionTable) replaceLocked(s *Session) []*Session {
	if t.Replace == nil || !capped(s) || s.Proto != "tcp" {
		return nil
	}
	var live []licmgr.Held
	byID := map[uint64]*Session{}
	for _, o := range t.m {
		if o.DeviceID != s.DeviceID || o.Service != s.Service || o.Proto != "tcp" || !o.counted || IsCut(o) {
			continue
		}
		byID[o.ID] = o
		live = append(live, licmgr.Held{ID: o.ID, Device: strconv.FormatInt(o.DeviceID, 10), Service: o.Service,
			Port: o.Port, HoldsSeats: true, LastFromDevice: o.LastFromDevice()})
	}
	if len(live) == 0 {
		return nil
	}
	var out []*Session
	for _, id := range t.Replace(time.Now(), strconv.FormatInt(s.DeviceID, 10), s.Service, true, live) {
		if o := byID[id]; o != nil {
			o.counted = false
			t.counts.add(o, -1)
			out = append(out, o)
		}
	}
	return out
}

// restoreLocked counts again the sessions replaceLocked took out, when
// the new session was refused after all.
func (t *SessionTable) restoreLocked(replaced []*Session) {
	for _, o := range replaced {
		if _, live := t.m[o.ID]; live && !o.counted {
			o.counted = true
			t.counts.add(o, 1)
		}
	}
}

// EndReplaced is the end reason of a session the same device's new
// connection replaced (the reconnect rule).
const EndReplaced = "replaced by the device's new connection (reconnect)"

// cutReplaced cuts the replaced sessions, upstream side first (Cut), so
// the license server releases their seats.
func cutReplaced(replaced []*Session) {
	for _, o := range replaced {
		o.Cut(EndReplaced)
	}
}

// LastFromDevice is when the device last sent bytes on s (its start if
// it never did).
func (s *Session) LastFromDevice() time.Time {
	if n := s.LastUp.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return s.Start
}

// Seats lists the live sessions that hold seats (counted against caps),
// oldest first: who holds a service's seats as licgate sees them.
func (t *SessionTable) Seats() []SessionInfo {
	t.mu.Lock()
	ids := make(map[uint64]bool, len(t.m))
	for _, s := range t.m {
		if s.counted {
			ids[s.ID] = true
		}
	}
	t.mu.Unlock()
	var out []SessionInfo
	for _, si := range t.List() {
		if ids[si.ID] {
			out = append(out, si)
		}
	}
	return out
}

// SetReplace sets Replace while the table may already be in use.
func (t *SessionTable) SetReplace(r Replacer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.Replace = r
}
