package gateway_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licgate/licgate/gateway"
	"github.com/licgate/licgate/gateway/gatewaytest"
	"github.com/licgate/licgate/tunnel"
)

func TestRekeyOldKeyStopsAtOnce(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t)
	old := h.AddDevice("alice", "laptop")
	lc := old.TakeSeat(t)
	defer lc.Close()
	res, err := h.GW.RekeyDevice(context.Background(), "alice", "laptop", "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Device.Address != old.Profile.Address.Addr() {
		t.Fatalf("address changed on rekey: %s -> %s", old.Profile.Address.Addr(), res.Device.Address)
	}
	if !h.Server.WaitInUse(0, 5*time.Second) {
		t.Fatal("the old key's session kept its seat")
	}
	// The home side's connection is closed too, as on revoke (it stayed
	// established before: the peer went away before the FIN crossed).
	lc.Conn().SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := gatewaytest.Drain(lc.Conn()); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("rekeyed device's home connection not closed: %v", err)
	}
	if c, err := old.Dial("tcp", 3*time.Second); err == nil {
		c.Close()
		t.Fatal("the old key still connects")
	}
	p, err := tunnel.ParseProfile(res.ProfileText)
	if err != nil {
		t.Fatal(err)
	}
	if p.PrivateKey == old.Profile.PrivateKey {
		t.Fatal("same key after rekey")
	}
	fresh := h.StartClient("alice", "laptop", p)
	lc2 := fresh.TakeSeat(t)
	lc2.Close()
}

// TestPeerChurn adds and removes 1,000 devices while 100 sessions hold
// seats and heartbeat: no unrelated session is interrupted.
func TestPeerChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t, gatewaytest.Seats(100))
	var clients []*gatewaytest.Client
	for i := 0; i < 20; i++ {
		clients = append(clients, h.AddDevice("steady", fmt.Sprintf("pc%02d", i)))
	}
	type held struct {
		call func(string) (string, error)
		c    interface{ Close() error }
	}
	var sessions []held
	for i := 0; i < 100; i++ {
		lc := clients[i%len(clients)].TakeSeat(t)
		defer lc.Close()
		sessions = append(sessions, held{lc.Call, lc})
	}
	stop := make(chan struct{})
	var beats, failures atomic.Int64
	var wg sync.WaitGroup
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				ans, err := s.call(fmt.Sprintf("PING %d", i))
				if err != nil || ans != fmt.Sprintf("PONG %d", i) {
					failures.Add(1)
					t.Errorf("session %d interrupted: %q %v", i, ans, err)
					return
				}
				beats.Add(1)
			}
		}()
	}
	ctx := context.Background()
	h.GW.AddUser(ctx, "churn", "")
	for i := 0; i < 1000; i++ {
		name := fmt.Sprintf("d%04d", i)
		if _, err := h.GW.AddDevice(ctx, "churn", name, ""); err != nil {
			t.Fatal(err)
		}
		if i >= 10 { // keep about ten extra peers around
			if _, err := h.GW.RevokeDevice(ctx, "churn", fmt.Sprintf("d%04d", i-10)); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d sessions interrupted", failures.Load())
	}
	if beats.Load() < 100 {
		t.Fatalf("only %d heartbeats during the churn", beats.Load())
	}
	if h.Server.InUse() != 100 {
		t.Fatalf("seats in use %d, want 100", h.Server.InUse())
	}
	t.Logf("%d heartbeats through 1000 adds and 990 revokes", beats.Load())
}

// A revoke waits for the cut sessions to end and for the FIN to cross
// without holding the gateway's lock: other admin changes go on meanwhile
// (they stalled for up to 2.2 s before). The wait is made long and ended
// by cancelling the revoke's context, so the order is certain.
func TestRevokeDoesNotHoldTheLock(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t)
	gateway.SetRevokeFlushForTest(h.GW, time.Hour)
	alice := h.AddDevice("alice", "laptop")
	la := alice.TakeSeat(t)
	defer la.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	revoked := make(chan error, 1)
	go func() {
		_, err := h.GW.RevokeDevice(ctx, "alice", "laptop")
		revoked <- err
	}()
	if !h.Server.WaitInUse(0, 5*time.Second) { // cut: the revoke is now in its wait
		t.Fatal("seat not released")
	}
	if _, err := h.GW.AddUser(context.Background(), "bob", ""); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-revoked:
		t.Fatalf("revoke returned (%v) before the user add could run: it held the lock", err)
	default:
	}
	cancel()
	if err := <-revoked; err != nil {
		t.Fatal(err)
	}
	if c, err := alice.Dial("tcp", 3*time.Second); err == nil {
		c.Close()
		t.Fatal("revoked device connected again")
	}
}
