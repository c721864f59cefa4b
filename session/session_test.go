package session

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/licgate/licgate/acl"
)

func allow(*Session, acl.Counts) (int, string, []string, error) { return 0, "ok", nil, nil }

// IDs follow the base the gateway sets from its persisted epoch, so a
// restart never hands out an ID an earlier run used.
func TestSetBaseKeepsIDsUniqueAcrossRestarts(t *testing.T) {
	seen := map[uint64]bool{}
	for epoch := uint64(1); epoch <= 3; epoch++ { // three "runs"
		tb := NewSessionTable()
		tb.SetBase(epoch << 32)
		for i := 0; i < 5; i++ {
			s := &Session{Proto: "tcp"}
			if err := tb.Admit(s, allow); err != nil {
				t.Fatal(err)
			}
			if seen[s.ID] || s.ID <= epoch<<32 {
				t.Fatalf("run %d: id %d reused or below the base", epoch, s.ID)
			}
			seen[s.ID] = true
		}
	}
}

// WaitGone wakes on removal (no polling) and gives up with its context.
func TestWaitGone(t *testing.T) {
	tb := NewSessionTable()
	a, b := net.Pipe()
	defer b.Close()
	s := &Session{Proto: "tcp", Conns: []net.Conn{a}}
	if err := tb.Admit(s, allow); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if tb.WaitGone(ctx, IsCut) != true {
		t.Fatal("no session is cut yet: WaitGone(IsCut) must return at once")
	}
	if tb.WaitGone(ctx, func(*Session) bool { return true }) {
		t.Fatal("WaitGone returned true while the session lives")
	}
	done := make(chan bool)
	go func() { done <- tb.WaitGone(context.Background(), func(*Session) bool { return true }) }()
	s.Cut(EndAdmin)
	tb.Remove(s, EndAdmin)
	if !<-done {
		t.Fatal("WaitGone did not see the removal")
	}
}

// Caps count TCP sessions, and UDP ones only when CountUDP says so.
func TestCountsTCPAndUDPOnly(t *testing.T) {
	tb := NewSessionTable()
	for _, s := range []*Session{{Proto: "tcp", Service: "x"}, {Proto: "udp", Service: "x"}, {Proto: "udp", Service: "x", CountUDP: true}} {
		if err := tb.Admit(s, allow); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	tb.WithCounts(&Session{Proto: "tcp"}, func(c acl.Counts) { n = c.ServiceSessions("x") })
	if n != 2 {
		t.Fatalf("counted %d, want 2 (tcp + counted udp)", n)
	}
}
