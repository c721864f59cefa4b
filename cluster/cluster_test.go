//go:build !licgate_omit_postgres

package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/cluster"
	"github.com/licgate/licgate/store/postgres/pgtest"
	"github.com/licgate/licgate/tunnel"
)

var errCap = errors.New("cap reached")

// capDecide admits while fewer than max sessions of service run cluster-wide.
func capDecide(service string, max int) func(acl.Counts) (cluster.Decision, error) {
	return func(n acl.Counts) (cluster.Decision, error) {
		if n.ServiceSessions(service) >= max {
			return cluster.Decision{}, errCap
		}
		return cluster.Decision{Rule: 0, Groups: []string{"staff"}}, nil
	}
}

func newPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// gateway is one cluster instance with its own pool, started with a
// context the test can cancel to simulate a crash.
type gateway struct {
	*cluster.Cluster
	crash context.CancelFunc
}

func newGateway(t *testing.T, dsn, id string, lease, renew time.Duration, onLost func([]int64)) gateway {
	t.Helper()
	c, err := cluster.New(cluster.Config{Pool: newPool(t, dsn), GatewayID: id, Lease: lease, Renew: renew, OnLost: onLost, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); c.Close() })
	return gateway{c, cancel}
}

func TestRacingAdmissionsHoldCap(t *testing.T) {
	leakCheck(t)
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	gws := []gateway{newGateway(t, dsn, "gw-a", 0, 0, nil), newGateway(t, dsn, "gw-b", 0, 0, nil)}
	ctx := context.Background()
	const n = 100
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := map[string]int{}
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			g := gws[i%2]
			s, err := g.Admit(ctx, cluster.Session{User: fmt.Sprintf("u%d", i), Device: "pc", Service: "codemeter"}, capDecide("codemeter", 2))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				admitted[s.Gateway]++
			case !errors.Is(err, errCap):
				t.Errorf("admit %d: %v", i, err)
			}
		}(i)
	}
	close(start)
	wg.Wait()
	if admitted["gw-a"]+admitted["gw-b"] != 2 {
		t.Fatalf("admitted %v, want exactly 2 in all", admitted)
	}
	ss, err := gws[0].Sessions(ctx)
	if err != nil || len(ss) != 2 || len(ss[0].Groups) != 1 || ss[0].Groups[0] != "staff" {
		t.Fatalf("sessions %+v %v", ss, err)
	}
	// Releasing one frees a seat for the other gateway.
	other := gws[0]
	if ss[0].Gateway == "gw-a" {
		other = gws[1]
	}
	if err := gws[0].Release(ctx, ss[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Admit(ctx, cluster.Session{User: "late", Device: "pc", Service: "codemeter"}, capDecide("codemeter", 2)); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	// Counts carry user, device, rule and group for the engine's pools.
	_, err = gws[1].Admit(ctx, cluster.Session{User: "x", Device: "y", Service: "other"}, func(c acl.Counts) (cluster.Decision, error) {
		if c.ServiceSessions("codemeter") != 2 || c.GroupSessions("staff") != 2 || c.RuleSessions(0) != 2 || c.UserSessions("late") != 1 || c.DeviceSessions("late", "pc") != 1 {
			return cluster.Decision{}, fmt.Errorf("counts %+v", c)
		}
		return cluster.Decision{Rule: -1}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDeadGatewayStopsCounting: a renewing gateway's session keeps
// counting past its lease; one whose gateway stopped renewing stops
// counting after the lease, and the other gateway admits again.
func TestDeadGatewayStopsCounting(t *testing.T) {
	leakCheck(t)
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	const lease, renew = time.Second, 200 * time.Millisecond
	a := newGateway(t, dsn, "gw-a", lease, renew, nil)
	b := newGateway(t, dsn, "gw-b", lease, renew, nil)
	ctx := context.Background()
	decide := capDecide("codemeter", 1)
	sa, err := a.Admit(ctx, cluster.Session{User: "alice", Device: "pc", Service: "codemeter"}, decide)
	if err != nil {
		t.Fatal(err)
	}
	// Several leases long: a keeps renewing, so b stays refused.
	time.Sleep(3 * lease)
	if _, err := b.Admit(ctx, cluster.Session{User: "bob", Device: "pc", Service: "codemeter"}, decide); !errors.Is(err, errCap) {
		t.Fatalf("a renewed session stopped counting: %v", err)
	}
	if err := a.Release(ctx, sa.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Admit(ctx, cluster.Session{User: "bob", Device: "pc", Service: "codemeter"}, decide); err != nil {
		t.Fatal(err)
	}
	b.crash() // b stops renewing; its row stays
	crashed := time.Now()
	if _, err := a.Admit(ctx, cluster.Session{User: "alice", Device: "pc", Service: "codemeter"}, decide); !errors.Is(err, errCap) {
		t.Fatalf("a dead gateway's session stopped counting at once: %v", err)
	}
	deadline := crashed.Add(lease + 3*time.Second)
	for {
		_, err := a.Admit(ctx, cluster.Session{User: "alice", Device: "pc", Service: "codemeter"}, decide)
		if err == nil {
			break
		}
		if !errors.Is(err, errCap) || time.Now().After(deadline) {
			t.Fatalf("dead gateway's session still counts %v after it stopped renewing: %v", time.Since(crashed), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	gap := time.Since(crashed)
	t.Logf("seat free %v after the other gateway stopped renewing (lease %v, renew %v)", gap.Round(time.Millisecond), lease, renew)
	if gap < lease-renew-100*time.Millisecond {
		t.Errorf("seat freed after %v, before the lease (%v) could have run out", gap, lease)
	}
}

// TestLostLeaseIsReported: a session whose lease ran out before the
// renewal (a database outage, a stalled gateway) is reported to OnLost,
// not silently renewed.
func TestLostLeaseIsReported(t *testing.T) {
	leakCheck(t)
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	lost := make(chan []int64, 1)
	a := newGateway(t, dsn, "gw-a", time.Second, 100*time.Millisecond, func(ids []int64) { lost <- ids })
	ctx := context.Background()
	s, err := a.Admit(ctx, cluster.Session{User: "alice", Device: "pc", Service: "codemeter"}, capDecide("codemeter", 5))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newPool(t, dsn).Exec(ctx, `UPDATE cluster_sessions SET lease_until = clock_timestamp() - interval '1 second' WHERE id = $1`, s.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case ids := <-lost:
		if len(ids) != 1 || ids[0] != s.ID {
			t.Fatalf("lost %v, want [%d]", ids, s.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnLost not called")
	}
	if ss, _ := a.Sessions(ctx); len(ss) != 0 {
		t.Fatalf("lost session still listed: %+v", ss)
	}
}

// TestWatchAcrossGateways: a change notified on gateway A reaches
// gateway B within a second; after PostgreSQL restarts, B resyncs and
// keeps receiving.
func TestWatchAcrossGateways(t *testing.T) {
	leakCheck(t)
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	a := newGateway(t, dsn, "gw-a", 0, 0, nil)
	b := newGateway(t, dsn, "gw-b", 0, 0, nil)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan cluster.Change, 16)
	watchDone := make(chan error, 1)
	go func() { watchDone <- b.Watch(ctx, func(ch cluster.Change) { got <- ch }) }()
	defer func() { cancel(); <-watchDone }()
	next := func(within time.Duration) cluster.Change {
		t.Helper()
		select {
		case ch := <-got:
			return ch
		case <-time.After(within):
			t.Fatalf("no change within %v", within)
		}
		return cluster.Change{}
	}
	if ch := next(5 * time.Second); ch.Kind != cluster.KindResync {
		t.Fatalf("first change %+v, want resync", ch)
	}
	sent := time.Now()
	if err := a.Notify(ctx, cluster.Change{Kind: cluster.KindRevoke, User: "alice", Device: "laptop"}); err != nil {
		t.Fatal(err)
	}
	ch := next(time.Second)
	if ch != (cluster.Change{Kind: cluster.KindRevoke, User: "alice", Device: "laptop", Origin: "gw-a"}) {
		t.Fatalf("got %+v", ch)
	}
	t.Logf("change reached the other gateway in %v", time.Since(sent))

	// PostgreSQL restarts: B reconnects, says resync, and receives again.
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if ch := next(15 * time.Second); ch.Kind != cluster.KindResync {
		t.Fatalf("after restart %+v, want resync", ch)
	}
	if err := a.Notify(ctx, cluster.Change{Kind: cluster.KindPolicy}); err != nil {
		t.Fatal(err)
	}
	if ch := next(time.Second); ch.Kind != cluster.KindPolicy {
		t.Fatalf("after restart %+v", ch)
	}
}

func writeKEK(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := cluster.WriteKEK(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSharedKey(t *testing.T) {
	leakCheck(t)
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	a := newGateway(t, dsn, "gw-a", 0, 0, nil)
	b := newGateway(t, dsn, "gw-b", 0, 0, nil)
	kek := writeKEK(t, "cluster.kek")
	ctx := context.Background()
	// Both ask at once for a key that does not exist yet: one is made.
	var ka, kb [32]byte
	var ea, eb error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); k, err := a.SharedKey(ctx, kek); ka, ea = k, err }()
	go func() { defer wg.Done(); k, err := b.SharedKey(ctx, kek); kb, eb = k, err }()
	wg.Wait()
	if ea != nil || eb != nil {
		t.Fatal(ea, eb)
	}
	if ka != kb || ka == ([32]byte{}) {
		t.Fatalf("gateways got different keys")
	}
	// The database holds no plaintext key.
	var sealed []byte
	if err := newPool(t, dsn).QueryRow(ctx, `SELECT sealed FROM cluster_secrets`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), string(ka[:])) {
		t.Fatal("private key stored in the clear")
	}
	// Another KEK: a clear error naming the file.
	wrong := writeKEK(t, "other.kek")
	_, err := b.SharedKey(ctx, wrong)
	if !errors.Is(err, cluster.ErrWrongKEK) || !strings.Contains(err.Error(), wrong) {
		t.Fatalf("wrong kek: %v", err)
	}
	// A KEK file others can read is refused; so is a malformed one.
	if err := os.Chmod(kek, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SharedKey(ctx, kek); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable kek: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.kek")
	os.WriteFile(bad, []byte("short\n"), 0o600)
	if _, err := a.SharedKey(ctx, bad); err == nil {
		t.Fatal("malformed kek accepted")
	}
	if err := cluster.WriteKEK(wrong); err == nil {
		t.Fatal("WriteKEK overwrote a KEK")
	}
}

// TestAdoptSharedKey: a single gateway's key becomes the cluster's, so
// its profiles keep working; a second, different key is refused.
func TestAdoptSharedKey(t *testing.T) {
	leakCheck(t)
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	a := newGateway(t, dsn, "gw-a", 0, 0, nil)
	b := newGateway(t, dsn, "gw-b", 0, 0, nil)
	kek := writeKEK(t, "cluster.kek")
	ctx := context.Background()
	own, err := tunnel.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if k, err := a.AdoptSharedKey(ctx, kek, own); err != nil || k != own {
		t.Fatalf("adopt: %v", err)
	}
	if k, err := b.SharedKey(ctx, kek); err != nil || k != own {
		t.Fatalf("other gateway: %v", err)
	}
	other, _ := tunnel.GenerateKey()
	if _, err := b.AdoptSharedKey(ctx, kek, other); err == nil || !strings.Contains(err.Error(), own.PublicKey().String()) {
		t.Fatalf("adopting a second key: %v", err)
	}
}

func TestCloseRemovesSessions(t *testing.T) {
	leakCheck(t)
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	a := newGateway(t, dsn, "gw-a", 0, 0, nil)
	b := newGateway(t, dsn, "gw-b", 0, 0, nil)
	ctx := context.Background()
	decide := capDecide("codemeter", 1)
	if _, err := a.Admit(ctx, cluster.Session{User: "alice", Device: "pc", Service: "codemeter"}, decide); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); !errors.Is(err, cluster.ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
	if _, err := a.Admit(ctx, cluster.Session{User: "x", Device: "y", Service: "z"}, decide); !errors.Is(err, cluster.ErrClosed) {
		t.Fatalf("admit after close: %v", err)
	}
	if _, err := b.Admit(ctx, cluster.Session{User: "bob", Device: "pc", Service: "codemeter"}, decide); err != nil {
		t.Fatalf("a closed gateway's sessions still count: %v", err)
	}
	// A restart under the same ID forgets what the previous run left.
	c := newGateway(t, dsn, "gw-b", 0, 0, nil)
	if ss, _ := c.Sessions(ctx); len(ss) != 0 {
		t.Fatalf("sessions of the previous run of gw-b: %+v", ss)
	}
	if _, err := cluster.New(cluster.Config{GatewayID: "x"}); err == nil {
		t.Fatal("config without pool accepted")
	}
}

// TestPostgresRestart: while PostgreSQL is down, new admissions fail
// closed (an error, not an admission); sessions admitted before keep
// counting when it is back within the lease; gateways reconnect by
// themselves.
func TestPostgresRestart(t *testing.T) {
	leakCheck(t)
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	lost := make(chan []int64, 4)
	a := newGateway(t, dsn, "gw-a", 20*time.Second, time.Second, func(ids []int64) { lost <- ids })
	b := newGateway(t, dsn, "gw-b", 20*time.Second, time.Second, nil)
	ctx := context.Background()
	decide := capDecide("codemeter", 1)
	if _, err := a.Admit(ctx, cluster.Session{User: "alice", Device: "pc", Service: "codemeter"}, decide); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithTimeout(ctx, 3*time.Second)
	_, err := b.Admit(actx, cluster.Session{User: "bob", Device: "pc", Service: "codemeter"}, capDecide("codemeter", 100))
	cancel()
	if err == nil || errors.Is(err, errCap) {
		t.Fatalf("admission with the database down: %v, want a connection error", err)
	}
	t.Logf("database down: %v", err)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	// Back: a's session still counts, b reconnects and is refused by the cap.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := b.Admit(ctx, cluster.Session{User: "bob", Device: "pc", Service: "codemeter"}, decide)
		if errors.Is(err, errCap) {
			break
		}
		if err == nil {
			t.Fatal("a's session was forgotten across the restart")
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reconnect: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case ids := <-lost:
		t.Fatalf("sessions reported lost after a short outage: %v", ids)
	default:
	}
}

func TestEndpoints(t *testing.T) {
	leakCheck(t)
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	a := newGateway(t, dsn, "gw-a", 0, 0, nil)
	b := newGateway(t, dsn, "gw-b", 0, 0, nil)
	ctx := context.Background()
	ep := netip.MustParseAddrPort("203.0.113.7:40001")
	if err := a.RecordEndpoints(ctx, map[string]netip.AddrPort{"k1": ep, "k2": netip.MustParseAddrPort("[2001:db8::1]:5")}); err != nil {
		t.Fatal(err)
	}
	if err := a.RecordEndpoints(ctx, map[string]netip.AddrPort{"k1": netip.MustParseAddrPort("203.0.113.7:40002")}); err != nil {
		t.Fatal(err)
	}
	got, err := b.Endpoints(ctx, time.Minute)
	if err != nil || len(got) != 2 || got["k1"].Port() != 40002 {
		t.Fatalf("endpoints %v %v", got, err)
	}
	if _, err := newPool(t, dsn).Exec(ctx, `UPDATE cluster_endpoints SET seen = seen - interval '1 hour' WHERE public_key = 'k2'`); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Endpoints(ctx, time.Minute); len(got) != 1 {
		t.Fatalf("old endpoint returned: %v", got)
	}
}

// TestUpdate: a re-decided session counts against its new rule and groups.
func TestUpdate(t *testing.T) {
	leakCheck(t)
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	a := newGateway(t, dsn, "gw-a", 20*time.Second, time.Second, nil)
	ctx := context.Background()
	s, err := a.Admit(ctx, cluster.Session{User: "alice", Device: "pc", Service: "codemeter"}, capDecide("codemeter", 10))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Update(ctx, s.ID, cluster.Decision{Rule: 3, Groups: []string{"interns"}}); err != nil {
		t.Fatal(err)
	}
	var seen acl.Counts
	if _, err := a.Admit(ctx, cluster.Session{User: "bob", Device: "pc", Service: "codemeter"}, func(n acl.Counts) (cluster.Decision, error) {
		seen = n
		return cluster.Decision{}, errCap
	}); !errors.Is(err, errCap) {
		t.Fatal(err)
	}
	if seen.RuleSessions(3) != 1 || seen.RuleSessions(0) != 0 || seen.GroupSessions("interns") != 1 || seen.GroupSessions("staff") != 0 {
		t.Fatalf("counts after update: rule3=%d rule0=%d interns=%d staff=%d", seen.RuleSessions(3), seen.RuleSessions(0),
			seen.GroupSessions("interns"), seen.GroupSessions("staff"))
	}
	if err := a.Update(ctx, 999999, cluster.Decision{Rule: 1}); err != nil {
		t.Fatalf("update of a gone session: %v", err)
	}
}

// TestPausedDatabaseOpensCircuit: PostgreSQL stopped with SIGSTOP (it
// keeps its connections and answers nothing). 30 parallel admissions all
// fail within about one timeout (the first to run out opens the circuit
// and ends the others); the next 30 are refused at once without a
// database call; after SIGCONT a probe closes the circuit and admissions
// work again.
func TestPausedDatabaseOpensCircuit(t *testing.T) {
	leakCheck(t)
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	const timeout = 500 * time.Millisecond
	events := make(chan cluster.BreakerEvent, 100)
	c, err := cluster.New(cluster.Config{Pool: newPool(t, dsn), GatewayID: "gw-a", Timeout: timeout,
		ProbeBackoff: 50 * time.Millisecond, MaxProbeBackoff: 200 * time.Millisecond, Logger: testLogger(t),
		OnBreaker: func(ev cluster.BreakerEvent) { events <- ev }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); c.Close() })
	decide := capDecide("codemeter", 100)
	if _, err := c.Admit(ctx, cluster.Session{User: "alice", Device: "pc", Service: "codemeter"}, decide); err != nil {
		t.Fatal(err)
	}
	before := c.Breaker()

	srv.Pause(t)
	admitAll := func() (slowest time.Duration, failed int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				t0 := time.Now()
				_, err := c.Admit(ctx, cluster.Session{User: fmt.Sprint("u", i), Device: "pc", Service: "codemeter"}, decide)
				d := time.Since(t0)
				mu.Lock()
				defer mu.Unlock()
				slowest = max(slowest, d)
				if err != nil {
					failed++
				}
			}()
		}
		close(start)
		wg.Wait()
		return slowest, failed
	}
	slowest, failed := admitAll()
	t.Logf("30 parallel admissions, database stopped: %d failed, slowest %v (timeout %v)", failed, slowest, timeout)
	if failed != 30 {
		t.Fatalf("%d of 30 admissions failed with the database stopped, want all (fail closed)", failed)
	}
	if slowest >= 2*timeout {
		t.Errorf("slowest refusal took %v, want under 2x the timeout (%v): admissions are serialised", slowest, timeout)
	}
	st := c.Breaker()
	if st.State == cluster.BreakerClosed || st.Trips != 1 {
		t.Fatalf("circuit after the first timeout: %+v, want open, one trip", st)
	}
	if ev := <-events; ev.From != cluster.BreakerClosed || ev.To != cluster.BreakerOpen {
		t.Fatalf("first event %s -> %s, want closed -> open", ev.From, ev.To)
	}
	if calls := st.Calls - before.Calls; calls > 30 {
		t.Fatalf("%d database calls for 30 admissions", calls)
	}

	// Open: refused at once, no database call.
	slowest, failed = admitAll()
	st2 := c.Breaker()
	t.Logf("30 more while open: %d failed, slowest %v, database calls %d", failed, slowest, st2.Calls-st.Calls)
	if failed != 30 || st2.Calls != st.Calls || st2.Refused-st.Refused != 30 {
		t.Fatalf("open circuit: %d failed, %d database calls, %d refused; want 30, 0, 30", failed, st2.Calls-st.Calls, st2.Refused-st.Refused)
	}
	if _, err := c.Admit(ctx, cluster.Session{User: "bob", Device: "pc", Service: "codemeter"}, decide); !errors.Is(err, cluster.ErrUnavailable) {
		t.Fatalf("admission with the circuit open: %v, want ErrUnavailable", err)
	}

	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	// States in order: open, then half-open/open per failed probe, then
	// half-open -> closed once a probe answers; never two probes at once.
	for ev := range events {
		if ev.From == ev.To || (ev.To == cluster.BreakerHalfOpen) != (ev.From == cluster.BreakerOpen) {
			t.Fatalf("event %s -> %s out of order", ev.From, ev.To)
		}
		if ev.To == cluster.BreakerClosed {
			break
		}
	}
	if _, err := c.Admit(ctx, cluster.Session{User: "bob", Device: "pc", Service: "codemeter"}, decide); err != nil {
		t.Fatalf("admission after the database came back: %v", err)
	}
}
