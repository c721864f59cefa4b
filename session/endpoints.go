package session

import (
	"net/netip"
	"sync"
	"time"
)

// sharedWindow is how close together endpoint flips must be to count: a
// laptop that moves from home to a café changes endpoint once; one
// profile copied to two machines makes WireGuard's endpoint (the source
// of the last authenticated packet) flip back and forth between them.
const sharedWindow = 10 * time.Minute

// EndpointTracker notices devices whose endpoint alternates between two
// places: A, then B, then A again, within sharedWindow.
type EndpointTracker struct {
	mu   sync.Mutex
	seen map[string]*endpointHistory // by public key
}

type endpointHistory struct {
	last, prev netip.AddrPort
	prevAt     time.Time // when last replaced prev
	flagged    time.Time // zero if never
	pair       [2]netip.AddrPort
}

// Observe records the endpoint of key and reports whether this call newly
// flags it.
func (t *EndpointTracker) Observe(key string, ep netip.AddrPort, now time.Time) bool {
	if !ep.IsValid() {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seen == nil {
		t.seen = map[string]*endpointHistory{}
	}
	h, ok := t.seen[key]
	if !ok {
		t.seen[key] = &endpointHistory{last: ep}
		return false
	}
	if ep == h.last {
		return false
	}
	newly := false
	if ep == h.prev && now.Sub(h.prevAt) < sharedWindow {
		newly = h.flagged.IsZero()
		h.flagged = now
		h.pair = [2]netip.AddrPort{h.last, ep}
	}
	h.prev, h.last, h.prevAt = h.last, ep, now
	return newly
}

// Suspect reports whether key was flagged within the last day, and the two
// endpoints seen.
func (t *EndpointTracker) Suspect(key string, now time.Time) (bool, [2]netip.AddrPort) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h, ok := t.seen[key]; ok && !h.flagged.IsZero() && now.Sub(h.flagged) < 24*time.Hour {
		return true, h.pair
	}
	return false, [2]netip.AddrPort{}
}
