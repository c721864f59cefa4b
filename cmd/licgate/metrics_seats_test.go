package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/gateway/gatewaytest"
)

// The seat series per service, scraped from a running gateway while two
// devices hold the whole pool of 2.
func TestSeatMetricsScraped(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t, gatewaytest.Policy("policy:\n  services:\n    codemeter: {max_sessions: 2}\n  rules:\n    - {action: allow, who: [\"*\"]}\n"))
	a := h.AddDevice("alice", "laptop").TakeSeat(t)
	defer a.Close()
	b := h.AddDevice("bob", "desk").TakeSeat(t)
	defer b.Close()
	if !h.WaitSessions(2, 5*time.Second) {
		t.Fatal("two seats not held")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var body []byte
	if err := adminapi.NewClient(h.Config.Socket).DoRaw(ctx, "GET", "/metrics", &body); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`licgate_service_seats_in_use{service="codemeter"} 2`, `licgate_service_seats_limit{service="codemeter"} 2`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
