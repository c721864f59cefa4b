package gateway_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licgate/licgate/gateway/gatewaytest"
	"github.com/licgate/licgate/tunnel"
)

func TestSeatAndDiscoveryThroughTunnel(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t, gatewaytest.Seats(3))
	c := h.AddDevice("alice", "laptop")

	lc := c.TakeSeat(t)
	defer lc.Close()
	if got := h.Server.InUse(); got != 1 {
		t.Fatalf("server seats in use = %d, want 1", got)
	}
	for i := 0; i < 3; i++ {
		ans, err := lc.Call(fmt.Sprintf("PING %d", i))
		if err != nil || ans != fmt.Sprintf("PONG %d", i) {
			t.Fatalf("heartbeat %d: %q %v", i, ans, err)
		}
	}
	ans, err := c.Discover(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ans, "LICSIM name=test inuse=1/3") {
		t.Fatalf("discovery answer %q", ans)
	}

	ss := h.GW.Sessions()
	var tcp, udp int
	for _, s := range ss {
		if s.User != "alice" || s.Device != "laptop" || s.Service != "codemeter" {
			t.Errorf("session attributed to %s/%s %s, want alice/laptop codemeter", s.User, s.Device, s.Service)
		}
		if !strings.HasPrefix(s.Client, c.Profile.Address.Addr().String()+":") {
			t.Errorf("session client %s, want the device's tunnel address %s", s.Client, c.Profile.Address.Addr())
		}
		switch s.Proto {
		case "tcp":
			tcp++
			// "HELLO alice/laptop\n" + 3 pings; answers likewise.
			if want := int64(len("HELLO alice/laptop\n") + 3*len("PING 0\n")); s.BytesUp != want {
				t.Errorf("tcp bytes up = %d, want %d", s.BytesUp, want)
			}
			if s.BytesDown == 0 {
				t.Errorf("tcp bytes down = 0")
			}
		case "udp":
			udp++
			if s.BytesUp < int64(len("DISCOVER")) || s.BytesDown < int64(len(ans)) {
				t.Errorf("udp bytes %d/%d", s.BytesUp, s.BytesDown)
			}
		}
	}
	if tcp != 1 || udp != 1 {
		t.Fatalf("sessions: %d tcp, %d udp, want 1 and 1: %+v", tcp, udp, ss)
	}

	// Handshake recorded on the gateway side.
	peers, err := h.GW.Peers()
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != 1 || peers[0].LastHandshake == nil || time.Since(*peers[0].LastHandshake) > time.Minute {
		t.Fatalf("peers: %+v", peers)
	}
	if peers[0].User != "alice" || peers[0].Device != "laptop" {
		t.Fatalf("peer attributed to %s/%s", peers[0].User, peers[0].Device)
	}

	// A clean close frees the seat.
	lc.Call("BYE")
	lc.Close()
	if !h.Server.WaitInUse(0, 5*time.Second) {
		t.Fatalf("seat not freed after close: %d", h.Server.InUse())
	}
}

func TestUnknownKeyGetsNothing(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t)
	known := h.AddDevice("alice", "laptop")
	// Same profile, same tunnel address, but a key the gateway never saw.
	p := known.Profile
	k, err := tunnel.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	p.PrivateKey = k
	stranger := h.StartClient("mallory", "pc", p)
	if c, err := stranger.Dial("tcp", 3*time.Second); err == nil {
		c.Close()
		t.Fatal("a client with an unknown key connected")
	}
	if _, err := stranger.Discover(2 * time.Second); err == nil {
		t.Fatal("a client with an unknown key got a discovery answer")
	}
	if n := h.Server.InUse(); n != 0 {
		t.Fatalf("server has %d seats in use", n)
	}
	if n := h.GW.SessionCount(); n != 0 {
		t.Fatalf("gateway has %d sessions", n)
	}
	// The known device still works.
	lc := known.TakeSeat(t)
	lc.Close()
}

func TestRevokeCutsLiveSessionAndFreesSeat(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t, gatewaytest.Seats(2))
	alice := h.AddDevice("alice", "laptop")
	bob := h.AddDevice("bob", "desktop")
	la := alice.TakeSeat(t)
	defer la.Close()
	lb := bob.TakeSeat(t)
	defer lb.Close()
	if h.Server.InUse() != 2 {
		t.Fatalf("in use %d", h.Server.InUse())
	}
	// All seats taken: a third session is answered BUSY by the server.
	cut, err := h.GW.RevokeDevice(context.Background(), "alice", "laptop")
	if err != nil {
		t.Fatal(err)
	}
	if cut != 1 {
		t.Fatalf("sessions cut = %d, want 1", cut)
	}
	la.Conn().SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := gatewaytest.Drain(la.Conn()); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("revoked device's connection not closed: %v", err)
	}
	if !h.Server.WaitInUse(1, 5*time.Second) {
		t.Fatalf("seat not released on the server: %d in use", h.Server.InUse())
	}
	// Bob is untouched.
	if ans, err := lb.Call("PING x"); err != nil || ans != "PONG x" {
		t.Fatalf("unrelated session broken: %q %v", ans, err)
	}
	// Alice can no longer connect at all.
	if c, err := alice.Dial("tcp", 3*time.Second); err == nil {
		c.Close()
		t.Fatal("revoked device connected again")
	}
	// Revoking twice is a not-found error, and loses nothing.
	if _, err := h.GW.RevokeDevice(context.Background(), "alice", "laptop"); err == nil {
		t.Fatal("second revoke succeeded")
	}
	ds, err := h.GW.Devices(context.Background(), true)
	if err != nil || len(ds) != 2 || ds[0].Revoked == nil {
		t.Fatalf("devices after revoke: %+v %v", ds, err)
	}
}

func TestDisabledUserRefused(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t)
	c := h.AddDevice("carol", "laptop")
	lc := c.TakeSeat(t)
	defer lc.Close()
	cut, err := h.GW.SetUserDisabled(context.Background(), "carol", true)
	if err != nil {
		t.Fatal(err)
	}
	if cut != 1 {
		t.Fatalf("cut %d sessions, want 1", cut)
	}
	if !h.Server.WaitInUse(0, 5*time.Second) {
		t.Fatal("seat not released after disable")
	}
	// The tunnel still comes up (the peer stays) but the proxy refuses.
	_, ans, err := c.TrySeat(5 * time.Second)
	if err == nil {
		t.Fatalf("disabled user got an answer: %q", ans)
	}
	h.GW.SyncAudit() // the cut session has ended (an event, not a sleep)
	if h.Server.InUse() != 0 || h.GW.SessionCount() != 0 {
		t.Fatalf("disabled user reached the server: inuse=%d sessions=%d", h.Server.InUse(), h.GW.SessionCount())
	}
	if _, err := h.GW.SetUserDisabled(context.Background(), "carol", false); err != nil {
		t.Fatal(err)
	}
	lc2 := c.TakeSeat(t)
	lc2.Close()
}

// TestManyPeers runs 200 devices with 500 concurrent sessions and checks
// each session is attributed to the device that opened it, and that
// nothing is left behind after close.
func TestManyPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	gatewaytest.CheckLeaks(t)
	const devices, sessions = 200, 500
	h := gatewaytest.New(t, gatewaytest.Seats(sessions))
	clients := make([]*gatewaytest.Client, devices)
	for i := range clients {
		clients[i] = h.AddDevice(fmt.Sprintf("user%03d", i%50), fmt.Sprintf("dev%03d", i))
	}
	addrOf := map[string]string{} // tunnel address -> user/device
	for _, c := range clients {
		addrOf[c.Profile.Address.Addr().String()] = c.User + "/" + c.Name
	}
	var mu sync.Mutex
	var held []interface{ Close() error }
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	sem := make(chan struct{}, 50) // bounded connect concurrency
	for i := 0; i < sessions; i++ {
		c := clients[i%devices]
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			lc, ans, err := c.TrySeat(60 * time.Second)
			if err != nil {
				errs <- fmt.Errorf("%s/%s: %w", c.User, c.Name, err)
				return
			}
			if !strings.HasPrefix(ans, "OK ") {
				lc.Close()
				errs <- fmt.Errorf("%s/%s: %q", c.User, c.Name, ans)
				return
			}
			mu.Lock()
			held = append(held, lc)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	if got := h.Server.InUse(); got != sessions {
		t.Fatalf("server seats in use = %d, want %d", got, sessions)
	}
	ss := h.GW.Sessions()
	if len(ss) != sessions {
		t.Fatalf("gateway sessions = %d, want %d", len(ss), sessions)
	}
	perDevice := map[string]int{}
	for _, s := range ss {
		addr := s.Client[:strings.LastIndexByte(s.Client, ':')]
		if want := addrOf[addr]; want != s.User+"/"+s.Device {
			t.Fatalf("session from %s attributed to %s/%s, want %s", s.Client, s.User, s.Device, want)
		}
		perDevice[s.User+"/"+s.Device]++
	}
	if len(perDevice) != devices {
		t.Fatalf("sessions spread over %d devices, want %d", len(perDevice), devices)
	}
	for _, lc := range held {
		lc.Close()
	}
	if !h.WaitSessions(0, 30*time.Second) {
		t.Fatalf("sessions left after close: %d", h.GW.SessionCount())
	}
	if !h.Server.WaitInUse(0, 30*time.Second) {
		t.Fatalf("seats left after close: %d", h.Server.InUse())
	}
}
