package gateway

import (
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Identity is who stands behind a tunnel address. WireGuard's cryptokey
// routing proves a packet from Address was sent by the holder of
// PublicKey's private key.
type Identity struct {
	DeviceID     int64
	Device       string // device name, unique per user
	User         string
	UserDisabled bool
	PublicKey    string
	Address      netip.Addr
}

// End reasons recorded for a session.
const (
	EndClientClosed = "client closed"
	EndServerClosed = "server closed"
	EndRevoked      = "revoked"
	EndDisabled     = "user disabled"
	EndIdle         = "idle"
	EndShutdown     = "shutdown"
	EndError        = "error"
)

// Session is one proxied TCP connection or UDP mapping.
type Session struct {
	ID       uint64
	Service  string
	Proto    string // tcp or udp
	DeviceID int64
	Device   string
	User     string
	Client   netip.AddrPort
	Start    time.Time

	up, down atomic.Int64 // bytes client->server, server->client
	conns    []net.Conn   // closed to cut the session
	cutOnce  sync.Once
	reason   atomic.Pointer[string]
}

// cut ends the session for reason: closing both conns makes the license
// server see the connection close at once, so it frees the seat.
func (s *Session) cut(reason string) {
	s.cutOnce.Do(func() {
		s.reason.Store(&reason)
		for _, c := range s.conns {
			c.Close()
		}
	})
}

// endReason returns the cut reason, or def if nobody cut the session.
func (s *Session) endReason(def string) string {
	if r := s.reason.Load(); r != nil {
		return *r
	}
	return def
}

// SessionInfo is a snapshot of a session, as the API and CLI show it.
type SessionInfo struct {
	ID        uint64    `json:"id"`
	Service   string    `json:"service"`
	Proto     string    `json:"proto"`
	User      string    `json:"user"`
	Device    string    `json:"device"`
	Client    string    `json:"client"`
	Start     time.Time `json:"start"`
	BytesUp   int64     `json:"bytes_up"`
	BytesDown int64     `json:"bytes_down"`
}

func (s *Session) info() SessionInfo {
	return SessionInfo{ID: s.ID, Service: s.Service, Proto: s.Proto, User: s.User, Device: s.Device,
		Client: s.Client.String(), Start: s.Start, BytesUp: s.up.Load(), BytesDown: s.down.Load()}
}

// SessionTable holds live sessions. Admission and cutting share one lock,
// so a session admitted concurrently with a revoke is either refused or
// cut: never left running.
type SessionTable struct {
	mu   sync.Mutex
	next uint64
	m    map[uint64]*Session
	// OnEnd, if set, is called once per admitted session after it ended.
	OnEnd func(s *Session, reason string)
}

// NewSessionTable returns an empty table.
func NewSessionTable() *SessionTable { return &SessionTable{m: map[uint64]*Session{}} }

// admit adds s if check, run under the table lock, allows it.
func (t *SessionTable) admit(s *Session, check func() error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := check(); err != nil {
		return err
	}
	t.next++
	s.ID = t.next
	t.m[s.ID] = s
	return nil
}

func (t *SessionTable) remove(s *Session, reason string) {
	t.mu.Lock()
	_, ok := t.m[s.ID]
	delete(t.m, s.ID)
	t.mu.Unlock()
	if ok && t.OnEnd != nil {
		t.OnEnd(s, reason)
	}
}

// Cut ends every session for which match is true and returns how many.
func (t *SessionTable) Cut(match func(*Session) bool, reason string) int {
	t.mu.Lock()
	var hit []*Session
	for _, s := range t.m {
		if match(s) {
			hit = append(hit, s)
		}
	}
	t.mu.Unlock()
	for _, s := range hit {
		s.cut(reason)
	}
	return len(hit)
}

// waitGone waits until no session matches, or timeout.
func (t *SessionTable) waitGone(match func(*Session) bool, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		t.mu.Lock()
		n := 0
		for _, s := range t.m {
			if match(s) {
				n++
			}
		}
		t.mu.Unlock()
		if n == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Len is the number of live sessions.
func (t *SessionTable) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// List returns snapshots of the live sessions, oldest first.
func (t *SessionTable) List() []SessionInfo {
	t.mu.Lock()
	out := make([]SessionInfo, 0, len(t.m))
	for _, s := range t.m {
		out = append(out, s.info())
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
