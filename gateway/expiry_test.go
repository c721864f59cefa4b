package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/gateway/gatewaytest"
)

// An expiry that takes effect at once (a date in the past) goes through
// identity's one cut-and-sync routine, as a revoke does: the sessions are
// cut first and the peer removed only after the close crossed the
// tunnel, so the home side sees its connection close instead of hanging
// on a peer that no longer answers, and the seat is free at once.
func TestExpiryClosesTheHomeConnection(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t, gatewaytest.Seats(2))
	ctx := context.Background()
	for _, tc := range []struct {
		user, device string
		expire       func(past *time.Time) error
	}{
		{"alice", "laptop", func(past *time.Time) error { return h.GW.SetDeviceExpiry(ctx, "alice", "laptop", past) }},
		{"bob", "desktop", func(past *time.Time) error { return h.GW.SetUserExpiry(ctx, "bob", past) }},
	} {
		c := h.AddDevice(tc.user, tc.device)
		seat := c.TakeSeat(t)
		past := time.Now().Add(-time.Minute)
		if err := tc.expire(&past); err != nil {
			t.Fatalf("%s/%s: expire: %v", tc.user, tc.device, err)
		}
		seat.Conn().SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := gatewaytest.Drain(seat.Conn()); err == nil || strings.Contains(err.Error(), "timeout") {
			t.Fatalf("%s/%s: the expired device's home connection was not closed: %v", tc.user, tc.device, err)
		}
		seat.Close()
		if !h.Server.WaitInUse(0, 5*time.Second) {
			t.Fatalf("%s/%s: seat not released on the server: %d in use", tc.user, tc.device, h.Server.InUse())
		}
		if conn, err := c.Dial("tcp", 2*time.Second); err == nil {
			conn.Close()
			t.Fatalf("%s/%s: expired device connected again", tc.user, tc.device)
		}
	}
}
