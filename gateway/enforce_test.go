package gateway_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licgate/licgate/adminapi"

	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/session"

	"github.com/licgate/licgate/gateway"
	"github.com/licgate/licgate/gateway/gatewaytest"
	"github.com/licgate/licgate/store"
)

// fakeClock is a settable clock for policy decisions.
type fakeClock struct{ t atomic.Pointer[time.Time] }

func newClock(s string) *fakeClock {
	c := &fakeClock{}
	c.set(s)
	return c
}

func (c *fakeClock) set(s string) {
	loc, _ := time.LoadLocation("Europe/Berlin")
	t, err := time.ParseInLocation("2006-01-02T15:04", s, loc)
	if err != nil {
		panic(err)
	}
	c.t.Store(&t)
}

func (c *fakeClock) now() time.Time { return *c.t.Load() }

const officePolicy = `policy:
  timezone: Europe/Berlin
  groups:
    architects: [alice, bob]
    interns: {members: [carol, dan], max_sessions: 2}
  rules:
    - name: banned
      action: deny
      who: [user:mallory]
    - name: architects
      action: allow
      who: [group:architects]
      services: [codemeter]
    - name: interns office hours
      action: allow
      who: [group:interns]
      hours: ["Mon-Fri 08:00-18:00"]
  tests:
    - {user: carol, service: codemeter, at: "2026-12-05T10:00", expect: deny}
`

func denials(t *testing.T, h *gatewaytest.Harness) []store.AuditDenialRow {
	t.Helper()
	var ds []store.AuditDenialRow
	if err := adminapi.NewClient(h.Config.Socket).Do(context.Background(), "GET", "/api/v1/audit/denials?since=1h", nil, &ds); err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestPolicyAllowAndDeny(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	clock := newClock("2026-12-02T10:00") // a Wednesday
	h := gatewaytest.New(t, gatewaytest.Policy(officePolicy), gatewaytest.Clock(clock.now))
	alice := h.AddDevice("alice", "laptop")
	mallory := h.AddDevice("mallory", "pc")
	erin := h.AddDevice("erin", "pc") // in no rule: default deny

	la := alice.TakeSeat(t)
	defer la.Close()
	accepted := h.Server.Accepted()
	for _, c := range []*gatewaytest.Client{mallory, erin} {
		if _, ans, err := c.TrySeat(5 * time.Second); err == nil {
			t.Fatalf("%s got an answer: %q", c.User, ans)
		}
		if _, err := c.Discover(1500 * time.Millisecond); err == nil {
			t.Fatalf("%s got a UDP discovery answer", c.User)
		}
	}
	if n := h.Server.Accepted(); n != accepted {
		t.Fatalf("denied connections reached the license server: %d new upstream connections", n-accepted)
	}
	if h.Server.InUse() != 1 {
		t.Fatalf("in use %d", h.Server.InUse())
	}
	ds := denials(t, h)
	reasons := map[string]string{}
	for _, d := range ds {
		reasons[d.User] = d.Rule + ": " + d.Reason
	}
	if !strings.Contains(reasons["mallory"], "rule 0 (banned): denied by rule 0 (banned)") {
		t.Errorf("mallory's denial: %q", reasons["mallory"])
	}
	if !strings.Contains(reasons["erin"], "default: no rule matched; service codemeter denies by default") {
		t.Errorf("erin's denial: %q", reasons["erin"])
	}
	metrics, err := httpGetUnix(h.Config.Socket, "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	// mallory is refused by a rule, erin by the default (counts include UDP retries).
	for _, want := range []string{`licgate_denials_total{reason="rule",service="codemeter"} `,
		`licgate_denials_total{reason="default",service="codemeter"} `} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s; have:\n%s", want, grepLines(metrics, "licgate_denials_total"))
		}
	}
}

func TestHoursAndWindowClose(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	clock := newClock("2026-12-05T10:00") // Saturday
	h := gatewaytest.New(t, gatewaytest.Policy(officePolicy), gatewaytest.Clock(clock.now))
	carol := h.AddDevice("carol", "laptop")
	if _, ans, err := carol.TrySeat(5 * time.Second); err == nil {
		t.Fatalf("Saturday: carol got %q", ans)
	}
	clock.set("2026-12-07T17:50") // Monday, inside the window
	lc := carol.TakeSeat(t)
	defer lc.Close()
	if n := h.GW.Reevaluate(session.EndPolicy); n != 0 {
		t.Fatalf("re-evaluation inside the window cut %d sessions", n)
	}
	clock.set("2026-12-07T18:00") // the window closes
	if n := h.GW.Reevaluate(session.EndPolicy); n != 1 {
		t.Fatalf("window close cut %d sessions, want 1", n)
	}
	if !h.Server.WaitInUse(0, 5*time.Second) {
		t.Fatal("seat not released when the window closed")
	}
	if _, err := lc.Call("PING"); err == nil {
		t.Fatal("session still answers after its window closed")
	}
	h.GW.SyncAudit()
	rows, err := h.GW.Store().AuditSessions(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || len(rows) != 1 {
		t.Fatalf("audit: %v %v", rows, err)
	}
	if rows[0].EndReason != session.EndWindow || rows[0].Rule != "rule 2 (interns office hours)" || rows[0].End == nil {
		t.Fatalf("audit row: %+v", rows[0])
	}
}

func TestWindowGrace(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	clock := newClock("2026-12-07T17:59")
	h := gatewaytest.New(t, gatewaytest.Policy(officePolicy), gatewaytest.Clock(clock.now),
		gatewaytest.TopLevel("enforcement:\n  window_grace: 10m\n"))
	carol := h.AddDevice("carol", "laptop")
	lc := carol.TakeSeat(t)
	defer lc.Close()
	clock.set("2026-12-07T18:05")
	if n := h.GW.Reevaluate(session.EndPolicy); n != 0 {
		t.Fatalf("cut %d during the grace period", n)
	}
	// New sessions are refused at once, grace or not.
	if _, ans, err := carol.TrySeat(5 * time.Second); err == nil {
		t.Fatalf("new session after window end: %q", ans)
	}
	clock.set("2026-12-07T18:09")
	if n := h.GW.Reevaluate(session.EndPolicy); n != 0 {
		t.Fatalf("cut %d before the grace ended", n)
	}
	clock.set("2026-12-07T18:16")
	if n := h.GW.Reevaluate(session.EndPolicy); n != 1 {
		t.Fatalf("cut %d after the grace, want 1", n)
	}
}

// TestCapRace: 100 simultaneous connects against a pool of 2 admit exactly 2.
func TestCapRace(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	clock := newClock("2026-12-02T10:00")
	h := gatewaytest.New(t, gatewaytest.Policy(officePolicy), gatewaytest.Clock(clock.now), gatewaytest.Seats(200))
	var clients []*gatewaytest.Client
	for i := 0; i < 5; i++ {
		clients = append(clients, h.AddDevice("carol", fmt.Sprintf("pc%d", i)), h.AddDevice("dan", fmt.Sprintf("pc%d", i)))
	}
	// Warm the tunnels so the race is between admissions, not handshakes.
	// UDP discovery is allowed and not counted against the pool.
	for _, c := range clients {
		c.Warm(t)
		if _, err := c.Discover(10 * time.Second); err != nil {
			t.Fatalf("discovery: %v", err)
		}
	}
	var ok atomic.Int64
	var held sync.Map
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		c := clients[i%len(clients)]
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			lc, ans, err := c.TrySeat(20 * time.Second)
			if err == nil && strings.HasPrefix(ans, "OK ") {
				ok.Add(1)
				held.Store(i, lc)
			}
		}(i)
	}
	close(start)
	wg.Wait()
	if ok.Load() != 2 {
		t.Fatalf("admitted %d sessions against a pool of 2", ok.Load())
	}
	if m, _ := httpGetUnix(h.Config.Socket, "/metrics"); !strings.Contains(m, `licgate_denials_total{reason="cap",service="codemeter"} 98`) {
		t.Errorf("cap denials not counted as cap in metrics")
	}
	tcp := 0
	for _, s := range h.GW.Sessions() {
		if s.Proto == "tcp" {
			tcp++
		}
	}
	if h.Server.InUse() != 2 || tcp != 2 {
		t.Fatalf("server in use %d, gateway tcp sessions %d", h.Server.InUse(), tcp)
	}
	held.Range(func(_, v any) bool { v.(interface{ Close() error }).Close(); return true })
}

func rewritePolicy(t *testing.T, h *gatewaytest.Harness, oldPolicy, newPolicy string) {
	t.Helper()
	data, err := os.ReadFile(h.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	if !strings.Contains(s, oldPolicy) {
		t.Fatal("config does not hold the old policy")
	}
	if err := os.WriteFile(h.ConfigPath, []byte(strings.Replace(s, oldPolicy, newPolicy, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestReloadCutsAndBadReloadKeeps(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	clock := newClock("2026-12-02T10:00")
	h := gatewaytest.New(t, gatewaytest.Policy(officePolicy), gatewaytest.Clock(clock.now))
	alice := h.AddDevice("alice", "laptop")
	bob := h.AddDevice("bob", "laptop")
	la := alice.TakeSeat(t)
	defer la.Close()
	lb := bob.TakeSeat(t)
	defer lb.Close()

	// A broken policy and a policy whose own tests fail are both rejected:
	// nothing is cut, the old policy stays.
	broken := strings.Replace(officePolicy, "who: [group:architects]", "who: [group:architectz]", 1)
	rewritePolicy(t, h, officePolicy, broken)
	if _, err := h.GW.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "no such group") ||
		!strings.Contains(err.Error(), "licgate.yaml:") {
		t.Fatalf("broken reload: %v", err)
	}
	failing := strings.Replace(officePolicy, "expect: deny}", "expect: allow}", 1)
	rewritePolicy(t, h, broken, failing)
	if _, err := h.GW.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "test 0") {
		t.Fatalf("reload with failing policy test: %v", err)
	}
	for _, lc := range []interface{ Call(string) (string, error) }{la, lb} {
		if ans, err := lc.Call("PING still"); err != nil || ans != "PONG still" {
			t.Fatalf("session dropped by a rejected reload: %q %v", ans, err)
		}
	}
	if h.Server.InUse() != 2 {
		t.Fatal("seats changed after rejected reloads")
	}

	// A good policy that bans bob cuts bob only.
	banBob := strings.Replace(officePolicy, "who: [user:mallory]", "who: [user:mallory, user:bob]", 1)
	rewritePolicy(t, h, failing, banBob)
	res, err := h.GW.Reload(context.Background())
	if err != nil || res.SessionsCut != 1 {
		t.Fatalf("reload: cut %d, %v", res.SessionsCut, err)
	}
	if !h.Server.WaitInUse(1, 5*time.Second) {
		t.Fatal("bob's seat not released on reload")
	}
	if ans, err := la.Call("PING alice"); err != nil || ans != "PONG alice" {
		t.Fatalf("alice's session cut by an unrelated reload: %v", err)
	}
	if _, err := lb.Call("PING"); err == nil {
		t.Fatal("bob's session survived the reload")
	}
	// The CLI path: the API reload answers the same way.
	var r adminapi.CutResult
	if err := adminapi.NewClient(h.Config.Socket).Do(context.Background(), "POST", "/api/v1/policy/reload", nil, &r); err != nil || r.SessionsCut != 0 {
		t.Fatalf("api reload: %+v %v", r, err)
	}
}

// TestLoweredCapCutsNewest: after a reload lowers a cap, the oldest
// sessions keep their places.
func TestLoweredCapCutsNewest(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	clock := newClock("2026-12-02T10:00")
	h := gatewaytest.New(t, gatewaytest.Policy(officePolicy), gatewaytest.Clock(clock.now))
	alice := h.AddDevice("alice", "laptop")
	var held []interface{ Call(string) (string, error) }
	for i := 0; i < 3; i++ {
		lc := alice.TakeSeat(t)
		defer lc.Close()
		held = append(held, lc)
	}
	capped := strings.Replace(officePolicy, "      services: [codemeter]\n", "      services: [codemeter]\n      max_sessions_per_user: 1\n", 1)
	rewritePolicy(t, h, officePolicy, capped)
	if res, err := h.GW.Reload(context.Background()); err != nil || res.SessionsCut != 2 {
		t.Fatalf("reload cut %d (%v), want 2", res.SessionsCut, err)
	}
	if _, err := held[0].Call("PING"); err != nil {
		t.Fatal("the oldest session was cut")
	}
	for _, lc := range held[1:] {
		if _, err := lc.Call("PING"); err == nil {
			t.Fatal("a newer session survived the lowered cap")
		}
	}
}

func TestVanishedPeerReleasesSeat(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t, gatewaytest.TopLevel("enforcement:\n  vanished_after: 2s\n  interval: 200ms\n"), gatewaytest.TunnelYAML("  keepalive: 1s\n"))
	gone := h.AddDevice("alice", "laptop")
	alive := h.AddDevice("bob", "laptop")
	lg := gone.TakeSeat(t)
	defer lg.Close()
	la := alive.TakeSeat(t)
	defer la.Close()
	// alice's laptop drops off the network without closing anything.
	gone.Dev.Close()
	deadline := time.Now().Add(10 * time.Second)
	for h.Server.InUse() != 1 && time.Now().Before(deadline) {
		// bob keeps his heartbeats going.
		if ans, err := la.Call("PING hb"); err != nil || ans != "PONG hb" {
			t.Fatalf("live peer's session broken: %q %v", ans, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if h.Server.InUse() != 1 {
		t.Fatalf("vanished peer's seat not released: %d in use", h.Server.InUse())
	}
	for i := 0; i < 8; i++ { // bob survives several more checks
		if ans, err := la.Call("PING hb"); err != nil || ans != "PONG hb" {
			t.Fatalf("live peer's session cut: %q %v", ans, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	h.GW.SyncAudit()
	rows, _ := h.GW.Store().AuditSessions(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	found := false
	for _, r := range rows {
		if r.User == "alice" && r.EndReason == session.EndVanished {
			found = true
		}
	}
	if !found {
		t.Fatalf("audit has no peer-vanished end for alice: %+v", rows)
	}
}

func TestAuditAndReport(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	clock := newClock("2026-12-02T10:00")
	h := gatewaytest.New(t, gatewaytest.Policy(officePolicy), gatewaytest.Clock(clock.now))
	alice := h.AddDevice("alice", "laptop")
	bob := h.AddDevice("bob", "desktop")
	mallory := h.AddDevice("mallory", "pc")
	la := alice.TakeSeat(t)
	lb := bob.TakeSeat(t)
	la2 := alice.TakeSeat(t)
	la.Call("PING 0123456789")
	la.Close()
	la2.Close()
	lb.Close()
	mallory.TrySeat(3 * time.Second)
	if !h.WaitSessions(0, 5*time.Second) {
		t.Fatal("sessions still open")
	}
	ctx := context.Background()
	rep, err := h.GW.Report(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Minute), "user")
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]audit.ReportRow{}
	for _, r := range rep.Rows {
		byKey[r.Key] = r
	}
	if a := byKey["alice"]; a.Sessions != 2 || a.Peak != 2 || a.BytesUp < int64(len("PING 0123456789\n")) {
		t.Fatalf("alice row: %+v", a)
	}
	if b := byKey["bob"]; b.Sessions != 1 || b.Peak != 1 {
		t.Fatalf("bob row: %+v", b)
	}
	if _, ok := byKey["mallory"]; ok {
		t.Fatal("a denied user appears as holding a license")
	}
	peak := 0
	for _, hp := range rep.Hourly {
		peak = max(peak, hp.Peak)
	}
	if peak != 3 {
		t.Fatalf("peak concurrency %d, want 3", peak)
	}
	rep, err = h.GW.Report(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Minute), "group")
	if err != nil || len(rep.Rows) != 1 || rep.Rows[0].Key != "architects" || rep.Rows[0].Sessions != 3 {
		t.Fatalf("by group: %+v %v", rep, err)
	}
	if _, err := h.GW.Report(ctx, time.Now(), time.Now().Add(-time.Hour), "user"); err == nil {
		t.Fatal("to before from accepted")
	}
	if _, err := h.GW.Report(ctx, time.Now().Add(-time.Hour), time.Now(), "colour"); err == nil {
		t.Fatal("bad --by accepted")
	}
	// Every end reason recorded, and the admin events too.
	rows, _ := h.GW.Store().AuditSessions(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	for _, r := range rows {
		if r.End == nil || r.EndReason != session.EndClientClosed {
			t.Errorf("session row: %+v", r)
		}
	}
	evs, _ := h.GW.Store().AuditEvents(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 100)
	if len(evs) < 6 { // 3 user.add + 3 device.add
		t.Fatalf("admin events: %+v", evs)
	}
}

// TestExpiryCutsDespiteGrace: a contractor's access ends at midnight after
// `until`; the window grace does not stretch a contract.
func TestExpiryCutsDespiteGrace(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	clock := newClock("2026-12-31T23:50")
	h := gatewaytest.New(t, gatewaytest.Clock(clock.now), gatewaytest.TopLevel("enforcement:\n  window_grace: 1h\n"),
		gatewaytest.Policy("policy:\n  timezone: Europe/Berlin\n  rules:\n    - {name: contractor, action: allow, who: [user:gina], until: 2026-12-31}\n"))
	gina := h.AddDevice("gina", "laptop")
	lc := gina.TakeSeat(t)
	defer lc.Close()
	clock.set("2027-01-01T00:00")
	if n := h.GW.Reevaluate(session.EndPolicy); n != 1 {
		t.Fatalf("expiry cut %d sessions, want 1", n)
	}
	h.GW.SyncAudit()
	rows, _ := h.GW.Store().AuditSessions(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if len(rows) != 1 || rows[0].EndReason != session.EndExpired {
		t.Fatalf("audit: %+v", rows)
	}
	if _, ans, err := gina.TrySeat(3 * time.Second); err == nil {
		t.Fatalf("expired contractor got %q", ans)
	}
	ds := denials(t, h)
	if len(ds) == 0 || !strings.Contains(ds[0].Reason, "outside the dates of rule 0 (contractor) (from - until 2026-12-31)") {
		t.Fatalf("denial: %+v", ds)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A reload hands the new config to the process's hook (main sets the
// memory limit from it: process-wide settings are not the library's).
func TestReloadCallsHook(t *testing.T) {
	var got []*config.Config
	h := gatewaytest.New(t, gatewaytest.Options(gateway.WithOnReload(func(c *config.Config) { got = append(got, c) })))
	data, err := os.ReadFile(h.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.ConfigPath, append(data, "\nmemory_limit: 400MiB\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := h.GW.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].MemoryLimit != 400<<20 {
		t.Fatalf("hook saw %v", got)
	}
}

// `policy explain` says what the live decision would: a full pool and a
// disabled user are refusals (it said ALLOW for both before).
func TestExplainIsLive(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t, gatewaytest.Policy("policy:\n  services:\n    codemeter: {max_sessions: 1}\n  rules:\n    - {action: allow, who: [\"*\"]}\n"))
	alice := h.AddDevice("alice", "laptop")
	h.AddDevice("bob", "pc")
	ctx := context.Background()
	x, err := h.GW.Explain(ctx, adminapi.ExplainRequest{User: "bob", Device: "pc", Service: "codemeter"})
	if err != nil || !x.Allow {
		t.Fatalf("empty pool: %+v %v", x, err)
	}
	lc := alice.TakeSeat(t)
	defer lc.Close()
	x, err = h.GW.Explain(ctx, adminapi.ExplainRequest{User: "bob", Device: "pc", Service: "codemeter"})
	if err != nil || x.Allow || x.Kind != "cap" {
		t.Fatalf("full pool: %+v %v", x, err)
	}
	if _, err := h.GW.SetUserDisabled(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	lc.Close()
	h.GW.SyncAudit()
	if !h.Server.WaitInUse(0, 5*time.Second) {
		t.Fatal("seat not released")
	}
	x, err = h.GW.Explain(ctx, adminapi.ExplainRequest{User: "bob", Device: "pc", Service: "codemeter"})
	if err != nil || x.Allow || x.Kind != "disabled" {
		t.Fatalf("disabled user: %+v %v", x, err)
	}
}
