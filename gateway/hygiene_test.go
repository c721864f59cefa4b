package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/adminapi"

	"github.com/licgate/licgate/gateway"
	"github.com/licgate/licgate/gateway/gatewaytest"
)

// TestDeviceAndUserExpiry: when a device's or user's expiry passes, the
// peer is removed and live sessions are cut.
func TestDeviceAndUserExpiry(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	clock := newClock("2026-12-31T22:00")
	h := gatewaytest.New(t, gatewaytest.Clock(clock.now),
		gatewaytest.Policy("policy:\n  timezone: Europe/Berlin\n  rules:\n    - {action: allow, who: [\"*\"]}\n"))
	ctx := context.Background()
	laptop := h.AddDevice("alice", "laptop")
	pc := h.AddDevice("bob", "pc")
	la := laptop.TakeSeat(t)
	defer la.Close()
	lb := pc.TakeSeat(t)
	defer lb.Close()
	api := adminapi.NewClient(h.Config.Socket)
	if err := api.Do(ctx, "POST", "/api/v1/devices/alice/laptop/expiry", adminapi.ExpiryRequest{Expires: "2026-12-31"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := api.Do(ctx, "POST", "/api/v1/users/bob/expiry", adminapi.ExpiryRequest{Expires: "2027-01-01T06:00"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := api.Do(ctx, "POST", "/api/v1/users/bob/expiry", adminapi.ExpiryRequest{Expires: "soon"}, nil); err == nil {
		t.Fatal("bad date accepted")
	}
	if h.Server.InUse() != 2 {
		t.Fatal("future expiry cut sessions")
	}
	clock.set("2027-01-01T00:00") // alice's laptop expires at midnight
	if n := gateway.ExpireDueForTest(h.GW); n != 1 {
		t.Fatalf("cut %d sessions at the device's expiry, want 1", n)
	}
	if !h.Server.WaitInUse(1, 5*time.Second) {
		t.Fatal("expired device kept its seat")
	}
	peers, _ := h.GW.Peers()
	for _, p := range peers {
		if p.Device == "laptop" || p.PublicKey == laptop.Profile.PrivateKey.PublicKey().String() {
			t.Fatal("expired device's peer still configured")
		}
	}
	clock.set("2027-01-01T06:00") // bob's access ends
	if n := gateway.ExpireDueForTest(h.GW); n != 1 {
		t.Fatalf("cut %d at the user's expiry", n)
	}
	if !h.Server.WaitInUse(0, 5*time.Second) {
		t.Fatal("expired user kept a seat")
	}
	// A date in the past takes effect at once.
	clock.set("2027-01-02T10:00")
	carol := h.AddDevice("carol", "pc")
	lc := carol.TakeSeat(t)
	defer lc.Close()
	if err := h.GW.SetUserExpiry(ctx, "carol", &[]time.Time{clock.now().Add(-time.Minute)}[0]); err != nil {
		t.Fatal(err)
	}
	if !h.Server.WaitInUse(0, 5*time.Second) {
		t.Fatal("past expiry did not cut at once")
	}
}

// TestSharedProfileDetection: one profile on two machines makes the
// device's endpoint flip between them; licgate flags it (peers API,
// metrics, audit) and leaves single-machine devices alone.
func TestSharedProfileDetection(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t)
	first := h.AddDevice("alice", "laptop")
	second := h.StartClient("alice", "laptop", first.Profile) // the copied profile
	honest := h.AddDevice("bob", "pc")
	deadline := time.Now().Add(20 * time.Second)
	flagged := false
	for !flagged && time.Now().Before(deadline) {
		for _, c := range []*gatewaytest.Client{first, second, honest} {
			c.Discover(300 * time.Millisecond)
			h.GW.CheckVanished()
		}
		peers, _ := h.GW.Peers()
		for _, p := range peers {
			if p.SharedSuspect {
				if p.Device != "laptop" {
					t.Fatalf("flagged the wrong device: %+v", p)
				}
				flagged = true
			}
		}
	}
	if !flagged {
		t.Fatal("a profile used from two machines was not flagged")
	}
	metrics, err := httpGetUnix(h.Config.Socket, "/metrics")
	if err != nil || !strings.Contains(metrics, `licgate_shared_profile_suspected{device="laptop",user="alice"} 1`) || strings.Contains(metrics, `licgate_shared_profile_suspected{device="pc"`) {
		t.Fatalf("metrics: %v", err)
	}
}
