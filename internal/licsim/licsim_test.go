package licsim

import (
	"net"
	"strings"
	"testing"
	"time"
)

func dial(t *testing.T, s *Server) *Client {
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	t.Cleanup(func() { c.Close() })
	return NewClient(c)
}

func TestSeatsBusyAndRelease(t *testing.T) {
	s := &Server{Seats: 2}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, b, c := dial(t, s), dial(t, s), dial(t, s)
	if ans, _ := a.Call("HELLO a"); ans != "OK seat=1 inuse=1/2" {
		t.Fatalf("a: %q", ans)
	}
	if ans, _ := b.Call("HELLO b"); ans != "OK seat=2 inuse=2/2" {
		t.Fatalf("b: %q", ans)
	}
	if ans, _ := c.Call("HELLO c"); ans != "BUSY inuse=2/2" {
		t.Fatalf("c: %q", ans)
	}
	if ans, _ := a.Call("PING 42"); ans != "PONG 42" {
		t.Fatalf("ping: %q", ans)
	}
	a.Close()
	if !s.WaitInUse(1, 5*time.Second) {
		t.Fatalf("seat not freed on close: %d", s.InUse())
	}
	d := dial(t, s)
	if ans, _ := d.Call("HELLO d"); ans != "OK seat=1 inuse=2/2" {
		t.Fatalf("d: %q", ans)
	}
	if ans, _ := d.Call("BYE"); ans != "BYE" {
		t.Fatalf("bye: %q", ans)
	}
	if !s.WaitInUse(1, 5*time.Second) {
		t.Fatal("seat not freed on BYE")
	}
}

func TestIdleTimeoutFreesSeat(t *testing.T) {
	s := &Server{Seats: 1, IdleTimeout: 200 * time.Millisecond}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := dial(t, s)
	a.Call("HELLO a")
	if s.InUse() != 1 {
		t.Fatal("no seat")
	}
	if !s.WaitInUse(0, 5*time.Second) {
		t.Fatal("silent client kept its seat")
	}
}

func TestDiscovery(t *testing.T) {
	s := &Server{Seats: 4, Name: "office"}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.Write([]byte("DISCOVER"))
	u.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	n, err := u.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "LICSIM name=office inuse=0/4") {
		t.Fatalf("%q %v", buf[:n], err)
	}
}
