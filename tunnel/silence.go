package tunnel

import "time"

// Silence tracks when each peer was last heard from: its last handshake,
// or the last time its received-bytes counter moved (keepalives move it).
// Not safe for concurrent use: one loop owns it.
type Silence struct {
	heard map[string]heardAt
}

type heardAt struct {
	rx int64
	at time.Time
}

// Observe takes the peers' current status at now and returns, per public
// key, when each was last heard from (zero: never).
func (s *Silence) Observe(peers []PeerStatus, now time.Time) map[string]time.Time {
	if s.heard == nil {
		s.heard = map[string]heardAt{}
	}
	last := make(map[string]time.Time, len(peers))
	seen := make(map[string]bool, len(peers))
	for _, p := range peers {
		k := p.PublicKey.String()
		seen[k] = true
		h, ok := s.heard[k]
		if !ok || p.RxBytes != h.rx {
			h = heardAt{rx: p.RxBytes, at: now}
			if !ok && p.RxBytes == 0 {
				h.at = time.Time{}
			}
			s.heard[k] = h
		}
		l := h.at
		if p.LastHandshake.After(l) {
			l = p.LastHandshake
		}
		last[k] = l
	}
	for k := range s.heard {
		if !seen[k] {
			delete(s.heard, k)
		}
	}
	return last
}
