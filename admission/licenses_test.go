package admission

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licgate/licgate/licmgr"
	"github.com/licgate/licgate/session"
)

// Holders are joined to licgate sessions by tunnel address, then device
// name (a FQDN's short name), then user; each session once; a holder
// nobody matches keeps the server's user@host. The refusal names them,
// longest held first.
func TestFromUsageJoinsHolders(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	u := &licmgr.Usage{Manager: licmgr.FlexNet, Features: []licmgr.Feature{{Name: "cad", Total: 4, InUse: 4, Holders: []licmgr.Holder{
		{User: "jdoe", Host: "10.44.0.7", Count: 1, Start: now.Add(-3 * time.Hour)},
		{User: "bob", Host: "PC.office.example", Count: 1, Start: now.Add(-time.Hour)},
		{User: "carol", Host: "elsewhere", Count: 1, Start: now.Add(-20 * time.Minute)},
		{User: "mallet", Host: "lab", Count: 1, Start: now.Add(-5 * time.Minute)},
	}}}}
	seats := []session.SessionInfo{
		{ID: 1, User: "alice", Device: "laptop", Client: "10.44.0.7:40000", Start: now.Add(-3 * time.Hour)},
		{ID: 2, User: "bob", Device: "pc", Client: "10.44.0.8:40000", Start: now.Add(-time.Hour)},
		{ID: 3, User: "carol", Device: "mac", Client: "10.44.0.9:40000", Start: now.Add(-20 * time.Minute)},
	}
	l := FromUsage("cad", licmgr.FlexNet, u, seats)
	var got []string
	for _, h := range l.Features[0].Holders {
		got = append(got, h.Who())
	}
	if want := "alice/laptop bob/pc carol/mac mallet@lab"; strings.Join(got, " ") != want {
		t.Fatalf("holders %q, want %q", strings.Join(got, " "), want)
	}
	if text, want := l.RefusalText(now, 3), "cad: 4 of 4 in use: alice/laptop 3 h, bob/pc 1 h, carol/mac 20 min, and 1 more"; text != want {
		t.Fatalf("refusal %q, want %q", text, want)
	}
	own := FromSessions("cm", licmgr.CodeMeter, []session.SessionInfo{{ID: 9, Service: "cm", User: "dan", Device: "pc", Start: now.Add(-2 * time.Minute)}})
	if text := own.RefusalText(now, 0); text != "1 of 1 in use: dan/pc 2 min" {
		t.Fatalf("own sessions' refusal %q", text)
	}
}

// A burst of status reads (each cap refusal asks) runs the status tool
// once per server while the answer is fresh.
func TestStatusMemoRunsOncePerBurst(t *testing.T) {
	var sm statusMemo
	calls := 0
	status := func(ctx context.Context, kind licmgr.Kind, host string, port int) (*licmgr.Usage, error) {
		calls++
		return &licmgr.Usage{Manager: kind}, nil
	}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sm.get(context.Background(), status, licmgr.FlexNet, "10.0.0.5", 27000)
		}()
	}
	wg.Wait()
	sm.get(context.Background(), status, licmgr.RLM, "10.0.0.5", 5053)
	if calls != 2 {
		t.Fatalf("status ran %d times for 20 reads of one server and 1 of another, want 2", calls)
	}
}
