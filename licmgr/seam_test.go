package licmgr_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licgate/licgate/internal/licsim"
	"github.com/licgate/licgate/licmgr"
)

// forwarder does for one service what the gateway must do with a
// service's Ports (the seam, in the smallest form): listen on every port
// at the gateway's address, dial the upstream host at the same number,
// count the cap on seat ports only, and on a port that shares LDK's Admin
// Control Center refuse admin requests.
type forwarder struct {
	t        *testing.T
	upstream string // host
	cap      int

	mu      sync.Mutex
	seats   int
	refused []string
	lns     []net.Listener
	conns   []net.Conn
	wg      sync.WaitGroup
}

func (f *forwarder) start(at string, ports []licmgr.Port) {
	for _, p := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort(at, fmt.Sprint(p.Port)))
		if err != nil {
			f.t.Fatalf("listen %s %d: %v", at, p.Port, err)
		}
		f.lns = append(f.lns, ln)
		f.wg.Add(1)
		go f.accept(ln, p)
	}
	f.t.Cleanup(f.close)
}

func (f *forwarder) close() {
	for _, ln := range f.lns {
		ln.Close()
	}
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func (f *forwarder) accept(ln net.Listener, p licmgr.Port) {
	defer f.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go f.handle(c, p)
	}
}

func (f *forwarder) handle(down net.Conn, p licmgr.Port) {
	defer f.wg.Done()
	defer down.Close()
	br := bufio.NewReader(down)
	if p.SharesAdmin {
		// Peek what the client sends first; refuse the Admin Control Center.
		down.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			first, _ := br.Peek(br.Buffered())
			r := licmgr.ClassifyLDK(first)
			if r == licmgr.LDKAdmin {
				f.refuse(p.Name + ": admin pages")
				io.WriteString(down, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
				return
			}
			if r == licmgr.LDKLicense {
				break
			}
			if _, err := br.Peek(br.Buffered() + 1); err != nil {
				return
			}
		}
		down.SetReadDeadline(time.Time{})
	}
	if p.HoldsSeats {
		f.mu.Lock()
		if f.seats >= f.cap {
			f.mu.Unlock()
			f.refuse(p.Name + ": cap")
			return
		}
		f.seats++
		f.mu.Unlock()
		defer func() { f.mu.Lock(); f.seats--; f.mu.Unlock() }()
	}
	up, err := net.Dial("tcp", licmgr.UpstreamFor(f.upstream, p))
	if err != nil {
		return
	}
	defer up.Close()
	f.mu.Lock()
	f.conns = append(f.conns, down, up)
	f.mu.Unlock()
	go func() { io.Copy(down, up); down.Close() }()
	io.Copy(up, br)
}

func (f *forwarder) refuse(why string) {
	f.mu.Lock()
	f.refused = append(f.refused, why)
	f.mu.Unlock()
}

// A FlexNet-like server behind the profile's ports: clients look the
// vendor daemon up through lmgrd and check out on the vendor port, all at
// the gateway's address; the cap counts vendor-port connections only, so
// a status query still works at the cap, and the refusal can name the
// holders from the server's own status.
func TestSeamFlexNetCapOnVendorPort(t *testing.T) {
	checkLeaks(t)
	m := &licsim.Manager{Kind: "flexnet", Vendor: "adskflex", Feature: "ACD", Seats: 10}
	if err := m.Listen("127.0.0.1:0", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	mp, vp := m.MasterAddr().(*net.TCPAddr).Port, m.VendorAddr().(*net.TCPAddr).Port
	ports, err := licmgr.Expand(licmgr.FlexNet, licmgr.Options{Port: mp, Daemons: []licmgr.Daemon{{Name: "adskflex", Port: vp}}})
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{t: t, upstream: "127.0.0.1", cap: 2}
	f.start("127.0.0.2", ports) // the gateway's address: same port numbers, another address
	gw := fmt.Sprintf("127.0.0.2:%d", mp)

	var held []*licsim.Client
	for _, who := range []string{"alice@laptop", "bob@pc"} {
		c, err := licsim.Checkout(net.Dial, gw, "adskflex", who)
		if err != nil {
			t.Fatalf("%s through the gateway: %v", who, err)
		}
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	if _, err := licsim.Checkout(net.Dial, gw, "adskflex", "carol@mac"); err == nil {
		t.Fatal("a third seat past the cap of 2")
	}
	// lmgrd is not capped: the lookup worked (the refusal came on the
	// vendor port), and so does a status query at the cap.
	status, err := licsim.FetchStatus(net.Dial, gw)
	if err != nil {
		t.Fatalf("status through lmgrd at the cap: %v", err)
	}
	u, err := licmgr.ParseLmstat(strings.NewReader(status), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	feat, _ := u.Feature("ACD")
	var seats []licmgr.Seat
	for _, h := range feat.Holders {
		seats = append(seats, licmgr.Seat{Who: h.User, Since: h.Start})
	}
	text := licmgr.RefusalText(f.cap, feat.InUse, seats, time.Now(), 0)
	if !strings.HasPrefix(text, "2 of 2 in use: ") || !strings.Contains(text, "alice") || !strings.Contains(text, "bob") {
		t.Errorf("refusal text %q", text)
	}
	if m.Server.InUse() != 2 || m.Lookups() < 4 {
		t.Errorf("server: %d in use, %d lookups", m.Server.InUse(), m.Lookups())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.refused) != 1 || f.refused[0] != "vendor adskflex: cap" {
		t.Errorf("refusals %v, want one on the vendor port", f.refused)
	}
}

// Sentinel LDK: on 1947 the Admin Control Center is refused and the
// licensing traffic passes, on one port.
func TestSeamLDKAdminRefused(t *testing.T) {
	checkLeaks(t)
	srv := &licsim.Server{Seats: 5}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Serve(ln, nil)
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	ports, err := licmgr.Expand(licmgr.SentinelLDK, licmgr.Options{Port: port, Protocols: []string{"tcp"}})
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{t: t, upstream: "127.0.0.1", cap: 5}
	f.start("127.0.0.2", ports)
	at := fmt.Sprintf("127.0.0.2:%d", port)

	c, err := net.Dial("tcp", at)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /_int_/config.html HTTP/1.1\r\nHost: 10.44.0.1:1947\r\n\r\n")
	ans, _ := io.ReadAll(c)
	c.Close()
	if !strings.HasPrefix(string(ans), "HTTP/1.1 403") || srv.Accepted() != 0 {
		t.Fatalf("ACC request: %q, upstream accepted %d", ans, srv.Accepted())
	}
	lc, err := net.Dial("tcp", at)
	if err != nil {
		t.Fatal(err)
	}
	lc.SetDeadline(time.Now().Add(5 * time.Second))
	cl := licsim.NewClient(lc)
	defer cl.Close()
	if ans, err := cl.Call("HELLO alice@laptop"); err != nil || !strings.HasPrefix(ans, "OK ") {
		t.Fatalf("licensing through 1947: %q %v", ans, err)
	}
}
