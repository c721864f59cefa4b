package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licgate/licgate/internal/testnet"
	"github.com/licgate/licgate/session"
)

// TestFilterAdminLDK: on a port shared with Sentinel LDK's Admin Control
// Center, ACC requests are refused before any upstream dial, and
// licensing requests pass with their first bytes intact.
func TestFilterAdminLDK(t *testing.T) {
	checkLeaks(t)
	echo := testnet.Serve(t, func(c net.Conn) {
		line, _ := bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "ECHO "+line)
	})
	var mu sync.Mutex
	var denied []session.Denial
	p, ln, _, dials := loopProxy(t, echo.Addr().String(), true, func(p *Proxy) {
		p.FilterAdmin = true
		p.OnDeny = func(d session.Denial) { mu.Lock(); denied = append(denied, d); mu.Unlock() }
	})
	cases := []struct {
		send  string
		admin bool
	}{
		{"GET /_int_/config.html HTTP/1.1\r\nHost: x\r\n\r\n", true},
		{"GET / HTTP/1.1\r\n", true},
		{"POST /hasp/request HTTP/1.1\r\n", false},
		{"\x00\x01binary license request\n", false},
	}
	for _, tc := range cases {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, tc.send)
		ans, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		first, _, _ := strings.Cut(tc.send, "\n")
		switch {
		case tc.admin && err == nil:
			t.Errorf("%q: admin request answered %q, want refused", first, ans)
		case !tc.admin && ans != "ECHO "+first+"\n":
			t.Errorf("%q: license request answered %q %v", first, ans, err)
		}
	}
	if dials.Load() != 2 {
		t.Errorf("%d upstream dials, want 2 (admin requests never dial)", dials.Load())
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.Refusals() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if p.Refusals() != 2 || len(denied) != 2 || !errors.Is(error(ErrLDKAdmin), ErrLDKAdmin) || denied[0].Kind != session.DenyKindAdmin ||
		!strings.Contains(denied[0].Reason, "admin_ports") {
		t.Fatalf("refusals %d, denials %+v", p.Refusals(), denied)
	}
}

// TestNoSeatsNotCounted: sessions on a port whose connections hold no
// seats are admitted without counts and never counted.
func TestNoSeatsNotCounted(t *testing.T) {
	checkLeaks(t)
	echo := testnet.Serve(t, func(c net.Conn) { io.Copy(c, c) })
	p, ln, _, _ := loopProxy(t, echo.Addr().String(), true, func(p *Proxy) { p.NoSeats = true; p.Port = 27000 })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "x")
	c.Read(make([]byte, 1))
	if n := p.Sessions.Len(); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
	if seats := p.Sessions.Seats(); len(seats) != 0 {
		t.Fatalf("a lookup session counts as a seat: %+v", seats)
	}
}
