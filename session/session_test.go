package session

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/licgate/licgate/acl"
)

func allow(*Session, acl.Counts) (Admission, error) { return Admission{Reason: "ok"}, nil }

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

// fakeShared is a Shared table whose calls say when they start
// (entered) and block until the test lets them (admitGo, releaseGo).
type fakeShared struct {
	entered            chan string
	admitGo, releaseGo chan struct{}
	admitted, released chan int64
	next               int64
}

func (f *fakeShared) Admit(s *Session, decide func(acl.Counts) (Admission, error)) (Admission, error) {
	f.entered <- "admit"
	<-f.admitGo
	adm, err := decide(nil)
	if err != nil {
		return Admission{}, err
	}
	f.next++
	f.admitted <- f.next
	adm.ClusterID = f.next
	return adm, nil
}

func (f *fakeShared) Release(s *Session) {
	f.entered <- "release"
	<-f.releaseGo
	f.released <- s.ClusterID
}

func newFakeShared() *fakeShared {
	return &fakeShared{entered: make(chan string, 10), admitGo: make(chan struct{}), releaseGo: make(chan struct{}),
		admitted: make(chan int64, 10), released: make(chan int64, 10)}
}

// A shared admission waits on the database without the table lock: the
// table answers (List, Len) and other sessions end meanwhile.
func TestSharedAdmitOutsideTableLock(t *testing.T) {
	tb := NewSessionTable()
	other := &Session{Proto: "udp"} // not capped: not shared
	if err := tb.Admit(other, allow); err != nil {
		t.Fatal(err)
	}
	f := newFakeShared()
	tb.Shared = f
	done := make(chan error)
	s := &Session{Proto: "tcp"}
	go func() { done <- tb.Admit(s, allow) }()
	<-f.entered // the admission waits in Shared.Admit
	if n := tb.Len(); n != 1 || len(tb.List()) != 1 {
		t.Fatalf("Len while a shared admission waits: %d, want 1", n)
	}
	tb.Remove(other, EndAdmin)
	close(f.admitGo)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s.ClusterID != <-f.admitted || tb.Len() != 1 {
		t.Fatalf("admitted session: cluster ID %d, table %d", s.ClusterID, tb.Len())
	}
}

// Remove releases the shared row before the session leaves the table:
// whoever sees it gone finds its seat free.
func TestSharedReleaseBeforeRemoval(t *testing.T) {
	tb := NewSessionTable()
	f := newFakeShared()
	close(f.admitGo)
	tb.Shared = f
	s := &Session{Proto: "tcp"}
	if err := tb.Admit(s, allow); err != nil {
		t.Fatal(err)
	}
	<-f.entered
	<-f.admitted
	gone := make(chan bool)
	go func() { gone <- tb.WaitGone(context.Background(), func(*Session) bool { return true }) }()
	removed := make(chan struct{})
	go func() { tb.Remove(s, EndClientClosed); close(removed) }()
	<-f.entered // the release waits: the session must still be reported live
	if tb.Len() != 1 || len(tb.List()) != 1 {
		t.Fatal("the session left the table before its shared row was released")
	}
	select {
	case <-gone:
		t.Fatal("WaitGone returned before the shared row was released")
	default:
	}
	close(f.releaseGo)
	if id := <-f.released; id != s.ClusterID {
		t.Fatalf("released %d, want %d", id, s.ClusterID)
	}
	<-removed
	if !<-gone || tb.Len() != 0 {
		t.Fatal("the session did not leave the table after its release")
	}
}

// A revoke published while the shared admission waited: the check under
// the table lock refuses the session and its shared row is released.
func TestSharedRecheckUnderLock(t *testing.T) {
	tb := NewSessionTable()
	f := newFakeShared()
	close(f.admitGo)
	close(f.releaseGo)
	tb.Shared = f
	calls := 0
	decide := func(s *Session, c acl.Counts) (Admission, error) {
		calls++
		if calls == 2 { // under the table lock, after the shared admission: revoked meanwhile
			return Admission{}, errors.New("device revoked")
		}
		return Admission{Reason: "ok"}, nil
	}
	s := &Session{Proto: "tcp"}
	if err := tb.Admit(s, decide); err == nil {
		t.Fatal("a session revoked during its shared admission was admitted")
	}
	if id := <-f.released; id != <-f.admitted {
		t.Fatalf("released %d, not the row admitted", id)
	}
	if tb.Len() != 0 {
		t.Fatal("refused session left in the table")
	}
}

// A Reevaluate that ran while the shared admission waited did not see
// the session: the admission is made again.
func TestSharedAdmitAgainAfterReevaluate(t *testing.T) {
	tb := NewSessionTable()
	f := newFakeShared()
	close(f.releaseGo)
	tb.Shared = f
	done := make(chan error)
	s := &Session{Proto: "tcp"}
	go func() { done <- tb.Admit(s, allow) }()
	<-f.entered
	tb.Reevaluate(func(*Session, acl.Counts) Verdict { return Verdict{Keep: true} })
	f.admitGo <- struct{}{} // the first attempt goes through
	first := <-f.admitted
	<-f.entered // released, then admitted again
	<-f.entered
	f.admitGo <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	second := <-f.admitted
	if <-f.released != first || s.ClusterID != second || tb.Len() != 1 {
		t.Fatalf("after a Reevaluate during the admission: session holds %d, want the new row %d (first %d released)", s.ClusterID, second, first)
	}
}
