package session

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/licmgr"
)

// capOne admits while the device holds fewer than one counted session.
func capOne(s *Session, c acl.Counts) (Admission, error) {
	if c != nil && c.DeviceSessions(s.User, s.Device) >= 1 {
		return Admission{}, &DenyError{Kind: DenyKindCap, Reason: "full"}
	}
	return Admission{Reason: "ok"}, nil
}

// closeOrder records which conn closed first.
type closeOrder struct {
	net.Conn
	name  string
	order *[]string
}

func (c closeOrder) Close() error { *c.order = append(*c.order, c.name); return c.Conn.Close() }

// The reconnect rule under the table lock: a device's silent seat stops
// counting before the new session is decided (a cap of one admits the
// reconnect), is cut upstream first once it is admitted, and counts again
// if the new session is refused after all. Lookup sessions (NoSeat) and
// a seat still talking are left alone.
func TestReplaceSilentSeat(t *testing.T) {
	tb := NewSessionTable()
	tb.SetReplace(licmgr.ReconnectRule{Silence: time.Second}.Supersede)
	var order []string
	a, b := net.Pipe()
	defer b.Close()
	up, upPeer := net.Pipe()
	defer upPeer.Close()
	old := &Session{Proto: "tcp", DeviceID: 1, User: "alice", Device: "laptop", Service: "cad", Start: time.Now(),
		Conns: []net.Conn{closeOrder{a, "client", &order}, closeOrder{up, "upstream", &order}}}
	if err := tb.Admit(old, capOne); err != nil {
		t.Fatal(err)
	}
	// Talking: not replaced, so the cap refuses the second seat.
	if err := tb.Admit(&Session{Proto: "tcp", DeviceID: 1, User: "alice", Device: "laptop", Service: "cad"}, capOne); err == nil {
		t.Fatal("a second seat was admitted while the first is still talking")
	}
	// A lookup is never counted and replaces nothing.
	if err := tb.Admit(&Session{Proto: "tcp", NoSeat: true, DeviceID: 1, User: "alice", Device: "laptop", Service: "cad"}, capOne); err != nil {
		t.Fatalf("lookup refused: %v", err)
	}
	old.LastUp.Store(time.Now().Add(-2 * time.Second).UnixNano()) // silent for 2 s
	// Refused for another reason: the silent seat counts again.
	errOther := errors.New("no")
	if err := tb.Admit(&Session{Proto: "tcp", DeviceID: 1, User: "alice", Device: "laptop", Service: "cad"},
		func(*Session, acl.Counts) (Admission, error) { return Admission{}, errOther }); !errors.Is(err, errOther) {
		t.Fatal(err)
	}
	if IsCut(old) || len(tb.Seats()) != 1 {
		t.Fatalf("a refused reconnect cut or uncounted the old seat (cut %v, seats %d)", IsCut(old), len(tb.Seats()))
	}
	// The reconnect: admitted under the cap of one, the old seat cut upstream first.
	neu := &Session{Proto: "tcp", DeviceID: 1, User: "alice", Device: "laptop", Service: "cad"}
	if err := tb.Admit(neu, capOne); err != nil {
		t.Fatalf("reconnect refused: %v", err)
	}
	if !IsCut(old) || old.EndReason("") != EndReplaced || len(order) != 2 || order[0] != "upstream" {
		t.Fatalf("old seat: cut %v (%q), close order %v", IsCut(old), old.EndReason(""), order)
	}
	tb.Remove(old, EndReplaced)
	if seats := tb.Seats(); len(seats) != 1 || seats[0].ID != neu.ID {
		t.Fatalf("seats %+v, want only the new one", seats)
	}
}
