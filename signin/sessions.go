package signin

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// SignIn is one completed sign-in, as the gateway records it for the
// "signin: 12h" unlock rule.
type SignIn struct {
	User    string // Identity.User; compared case-insensitively
	Email   string
	Groups  []string
	Purpose string
	At      time.Time
}

// Sessions remembers the latest sign-in of each user. The gateway keeps
// them in its store; MemorySessions is the in-memory version.
type Sessions interface {
	// Record stores s as the latest sign-in of s.User, replacing an older
	// one; a record older than the one held is ignored.
	Record(ctx context.Context, s SignIn) error
	// Last returns the latest sign-in of user; ok is false if there is
	// none (never signed in, forgotten, or expired from the store).
	Last(ctx context.Context, user string) (s SignIn, ok bool, err error)
	// Forget drops user's sign-in (sign-out, user removed); forgetting an
	// unknown user is not an error.
	Forget(ctx context.Context, user string) error
}

// SignedInWithin reports whether user's latest sign-in is at most window
// old at now: the check behind "signin: 12h". A sign-in from the future
// (clock skew between gateways) counts as fresh.
func SignedInWithin(ctx context.Context, s Sessions, user string, window time.Duration, now time.Time) (bool, error) {
	last, ok, err := s.Last(ctx, user)
	if err != nil || !ok {
		return false, err
	}
	return now.Sub(last.At) <= window, nil
}

// MemorySessions is a Sessions in memory. Records older than MaxAge are
// dropped (lazily, on Record and Last).
type MemorySessions struct {
	// MaxAge is how long a sign-in is kept. If zero, 24h.
	MaxAge time.Duration
	// Now is the clock. If nil, time.Now.
	Now func() time.Time

	mu sync.Mutex
	m  map[string]SignIn
}

var _ Sessions = (*MemorySessions)(nil)

func (m *MemorySessions) maxAge() time.Duration {
	if m.MaxAge <= 0 {
		return 24 * time.Hour
	}
	return m.MaxAge
}

func (m *MemorySessions) now() time.Time {
	if m.Now == nil {
		return time.Now()
	}
	return m.Now()
}

func key(user string) string { return strings.ToLower(strings.TrimSpace(user)) }

// Record implements Sessions.
func (m *MemorySessions) Record(_ context.Context, s SignIn) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]SignIn{}
	}
	now := m.now()
	for k, v := range m.m {
		if now.Sub(v.At) > m.maxAge() {
			delete(m.m, k)
		}
	}
	k := key(s.User)
	if old, ok := m.m[k]; ok && old.At.After(s.At) {
		return nil
	}
	s.Groups = slices.Clone(s.Groups)
	m.m[k] = s
	return nil
}

// Last implements Sessions.
func (m *MemorySessions) Last(_ context.Context, user string) (SignIn, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.m[key(user)]
	if !ok {
		return SignIn{}, false, nil
	}
	if m.now().Sub(s.At) > m.maxAge() {
		delete(m.m, key(user))
		return SignIn{}, false, nil
	}
	s.Groups = slices.Clone(s.Groups)
	return s, true, nil
}

// Forget implements Sessions.
func (m *MemorySessions) Forget(_ context.Context, user string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, key(user))
	return nil
}
