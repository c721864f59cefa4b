package ddns_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licgate/licgate/ddns"
	"github.com/licgate/licgate/ddns/ddnstest"
)

// fixedSource answers whatever its pointer holds.
type fixedSource struct {
	mu   sync.Mutex
	addr netip.Addr
}

func (f *fixedSource) Name() string { return "fixed" }
func (f *fixedSource) Detect(context.Context, ddns.Family) (netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addr, nil
}
func (f *fixedSource) set(s string) { f.mu.Lock(); f.addr = netip.MustParseAddr(s); f.mu.Unlock() }

// dyndnsStandIn answers every update with *answer and records requests.
type dyndnsStandIn struct {
	srv    *httptest.Server
	answer atomic.Pointer[string]
	status atomic.Int64
	hits   atomic.Int64
	last   atomic.Pointer[http.Request]
}

func newDyndns(t *testing.T, answer string) *dyndnsStandIn {
	d := &dyndnsStandIn{}
	d.answer.Store(&answer)
	d.status.Store(200)
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.hits.Add(1)
		d.last.Store(r)
		u, p, ok := r.BasicAuth()
		if !ok || u != "office" || p != "secret" {
			fmt.Fprint(w, "badauth")
			return
		}
		w.WriteHeader(int(d.status.Load()))
		fmt.Fprint(w, *d.answer.Load())
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *dyndnsStandIn) updater() *ddns.Dyndns2 {
	return &ddns.Dyndns2{URL: d.srv.URL + "/nic/update", Username: "office", Password: "secret", Client: d.srv.Client()}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestDyndns2Answers(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		answer   string
		status   int
		result   string // ok, fatal, backoff, error
		minDelay time.Duration
	}{
		{"good 203.0.113.5", 200, "ok", 0},
		{"nochg 203.0.113.5", 200, "ok", 0},
		{"badauth", 200, "fatal", 0},
		{"badauth", 401, "fatal", 0},
		{"!donator", 200, "fatal", 0},
		{"notfqdn", 200, "fatal", 0},
		{"nohost", 200, "fatal", 0},
		{"numhost", 200, "fatal", 0},
		{"abuse", 200, "fatal", 0},
		{"badagent", 200, "fatal", 0},
		{"911", 200, "backoff", 30 * time.Minute},
		{"dnserr", 200, "backoff", 30 * time.Minute},
		{"", 503, "backoff", 30 * time.Minute},
		{"<html>maintenance</html>", 200, "error", time.Minute / 2},
	} {
		t.Run(fmt.Sprintf("%s_%d", tc.answer, tc.status), func(t *testing.T) {
			d := newDyndns(t, tc.answer)
			d.status.Store(int64(tc.status))
			src := &fixedSource{}
			src.set("203.0.113.5")
			clk := &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
			m := &ddns.Manager{Host: "office.example.net", Detector: &ddns.Detector{Sources: []ddns.Source{src}},
				Providers: []ddns.Provider{{Name: "noip", Updater: d.updater()}}, State: &ddns.MemState{}, Now: clk.now}
			m.Check(ctx)
			r := d.last.Load()
			if r == nil || r.URL.Query().Get("hostname") != "office.example.net" || r.URL.Query().Get("myip") != "203.0.113.5" ||
				!strings.HasPrefix(r.UserAgent(), "licgate-ddns/") {
				t.Fatalf("request: %+v", r)
			}
			st := m.Status()[0]
			switch tc.result {
			case "ok":
				if st.LastError != "" || st.LastAddr.String() != "203.0.113.5" || st.Updates != 1 {
					t.Fatalf("status %+v", st)
				}
				// Unchanged address: no second request, ever.
				for i := 0; i < 10; i++ {
					clk.advance(time.Minute)
					m.Check(ctx)
				}
				if d.hits.Load() != 1 {
					t.Fatalf("%d requests for an unchanged address", d.hits.Load())
				}
			case "fatal":
				if !st.Stopped || !strings.Contains(st.LastError, "fatal") {
					t.Fatalf("status %+v", st)
				}
				src.set("203.0.113.6") // even a new address is not sent
				for i := 0; i < 5; i++ {
					clk.advance(24 * time.Hour)
					m.Check(ctx)
				}
				if d.hits.Load() != 1 {
					t.Fatalf("stopped provider called %d times", d.hits.Load())
				}
			case "backoff", "error":
				if st.Stopped || st.NextAttempt == nil || st.NextAttempt.Sub(clk.now()) < tc.minDelay {
					t.Fatalf("status %+v (want next attempt >= %s)", st, tc.minDelay)
				}
				clk.advance(tc.minDelay - time.Second)
				if tc.result == "backoff" {
					m.Check(ctx)
					if d.hits.Load() != 1 {
						t.Fatal("retried before the backoff ended")
					}
				}
				d.answer.Store(ptr("good 203.0.113.5"))
				d.status.Store(200)
				clk.advance(31 * time.Minute)
				m.Check(ctx)
				if st := m.Status()[0]; st.Updates != 1 || st.LastError != "" {
					t.Fatalf("after recovery: %+v", st)
				}
			}
		})
	}
}

func ptr(s string) *string { return &s }

// TestSimulatedDay: 1,440 polls, three address changes: exactly three
// updates per provider, one through real BIND, one through dyndns2.
func TestSimulatedDay(t *testing.T) {
	b := ddnstest.StartBIND(t, "example.test")
	ctx := context.Background()
	d := newDyndns(t, "good")
	rfc := &countingUpdater{u: &ddns.RFC2136{Server: b.Addr, Zone: b.Zone, KeyName: b.KeyName, Secret: b.Secret}}
	src := &fixedSource{}
	src.set("203.0.113.1")
	state := &ddns.MemState{}
	// Yesterday's state: both providers have the morning address already.
	state.SaveDDNS("bind", ddns.IPv4, netip.MustParseAddr("203.0.113.1"), time.Time{})
	state.SaveDDNS("noip", ddns.IPv4, netip.MustParseAddr("203.0.113.1"), time.Time{})
	if err := rfc.u.Update(ctx, "office.example.test", netip.MustParseAddr("203.0.113.1")); err != nil {
		t.Fatal(err)
	}
	var changes []string
	clk := &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	m := &ddns.Manager{Host: "office.example.test", Detector: &ddns.Detector{Sources: []ddns.Source{src}}, State: state, Now: clk.now,
		Providers: []ddns.Provider{{Name: "bind", Updater: rfc}, {Name: "noip", Updater: d.updater()}},
		OnChange:  func(f ddns.Family, old, new netip.Addr) { changes = append(changes, old.String()+"->"+new.String()) }}
	for minute := 0; minute < 1440; minute++ {
		switch minute {
		case 6 * 60:
			src.set("203.0.113.2")
		case 13*60 + 7:
			src.set("203.0.113.3")
		case 22 * 60:
			src.set("203.0.113.4")
		}
		m.Check(ctx)
		clk.advance(time.Minute)
	}
	if rfc.n.Load() != 3 || d.hits.Load() != 3 {
		t.Fatalf("updates: rfc2136 %d, dyndns2 %d; want 3 each", rfc.n.Load(), d.hits.Load())
	}
	if len(changes) != 3 {
		t.Fatalf("change events: %v", changes)
	}
	if got := query(t, b.Addr, "office.example.test", ddns.IPv4); len(got) != 1 || got[0].String() != "203.0.113.4" {
		t.Fatalf("record at the end of the day: %v", got)
	}
}

type countingUpdater struct {
	u *ddns.RFC2136
	n atomic.Int64
}

func (c *countingUpdater) Update(ctx context.Context, host string, a netip.Addr) error {
	c.n.Add(1)
	return c.u.Update(ctx, host, a)
}

func (c *countingUpdater) Current(ctx context.Context, host string, f ddns.Family) ([]netip.Addr, error) {
	return c.u.Current(ctx, host, f)
}

// TestRestartDoesNotResend: a new manager with the same state store sends
// nothing for an unchanged address; with a verifier, a record already
// right at the server is not re-sent even without state.
func TestRestartDoesNotResend(t *testing.T) {
	ctx := context.Background()
	d := newDyndns(t, "good")
	src := &fixedSource{}
	src.set("203.0.113.9")
	state := &ddns.MemState{}
	mk := func() *ddns.Manager {
		return &ddns.Manager{Host: "office.example.net", Detector: &ddns.Detector{Sources: []ddns.Source{src}}, State: state,
			Providers: []ddns.Provider{{Name: "noip", Updater: d.updater()}}}
	}
	mk().Check(ctx)
	mk().Check(ctx)
	mk().Check(ctx)
	if d.hits.Load() != 1 {
		t.Fatalf("%d updates across restarts, want 1", d.hits.Load())
	}

	b := ddnstest.StartBIND(t, "example.test")
	rfc := &countingUpdater{u: &ddns.RFC2136{Server: b.Addr, Zone: b.Zone, KeyName: b.KeyName, Secret: b.Secret}}
	rfc.u.Update(ctx, "office.example.test", netip.MustParseAddr("203.0.113.9"))
	m := &ddns.Manager{Host: "office.example.test", Detector: &ddns.Detector{Sources: []ddns.Source{src}}, State: &ddns.MemState{},
		Providers: []ddns.Provider{{Name: "bind", Updater: rfc}}}
	m.Check(ctx)
	if rfc.n.Load() != 0 {
		t.Fatal("updated a record the authoritative server already had")
	}
	if st := m.Status()[0]; st.LastAddr.String() != "203.0.113.9" {
		t.Fatalf("state not learnt from the server: %+v", st)
	}
	// Someone changes the record behind our back: it is corrected.
	rfc.u.Update(ctx, "office.example.test", netip.MustParseAddr("203.0.113.200"))
	m.Check(ctx)
	if rfc.n.Load() != 1 {
		t.Fatalf("drifted record not corrected: %d updates", rfc.n.Load())
	}
}

func TestOneProviderFailureDoesNotBlockAnother(t *testing.T) {
	bad := newDyndns(t, "abuse")
	good := newDyndns(t, "good")
	src := &fixedSource{}
	src.set("203.0.113.50")
	m := &ddns.Manager{Host: "h.example.net", Detector: &ddns.Detector{Sources: []ddns.Source{src}}, State: &ddns.MemState{},
		Providers: []ddns.Provider{{Name: "a", Updater: bad.updater()}, {Name: "b", Updater: good.updater()}}}
	m.Check(context.Background())
	st := m.Status()
	if !st[0].Stopped || st[1].Updates != 1 {
		t.Fatalf("%+v", st)
	}
}

func TestDuckDNSAndCloudflare(t *testing.T) {
	ctx := context.Background()
	duck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/update" || q.Get("token") != "tok" || q.Get("domains") != "office" {
			fmt.Fprint(w, "KO")
			return
		}
		if q.Get("ip") != "203.0.113.5" && q.Get("ipv6") != "2001:db8::5" {
			fmt.Fprint(w, "KO")
			return
		}
		fmt.Fprint(w, "OK")
	}))
	defer duck.Close()
	u := &ddns.DuckDNS{URL: duck.URL, Token: "tok", Client: duck.Client()}
	if err := u.Update(ctx, "office.duckdns.org", netip.MustParseAddr("203.0.113.5")); err != nil {
		t.Fatal(err)
	}
	if err := u.Update(ctx, "office", netip.MustParseAddr("2001:db8::5")); err != nil {
		t.Fatal(err)
	}
	u.Token = "wrong"
	if err := u.Update(ctx, "office", netip.MustParseAddr("203.0.113.5")); !ddns.IsFatal(err) {
		t.Fatalf("KO: %v", err)
	}

	// Cloudflare: zone lookup, then create, then update in place.
	var mu sync.Mutex
	records := map[string]map[string]any{}
	var calls []string
	cf := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, r.Method+" "+r.URL.Path)
		if r.Header.Get("Authorization") != "Bearer cf-token" {
			w.WriteHeader(403)
			fmt.Fprint(w, `{"success":false,"errors":[{"code":9109,"message":"Invalid access token"}]}`)
			return
		}
		ok := func(v any) { json.NewEncoder(w).Encode(map[string]any{"success": true, "result": v}) }
		switch {
		case r.Method == "GET" && r.URL.Path == "/zones":
			ok([]map[string]string{{"id": "z1", "name": r.URL.Query().Get("name")}})
		case r.Method == "GET" && r.URL.Path == "/zones/z1/dns_records":
			var out []map[string]any
			for id, rec := range records {
				if rec["type"] == r.URL.Query().Get("type") && rec["name"] == r.URL.Query().Get("name") {
					out = append(out, map[string]any{"id": id, "content": rec["content"]})
				}
			}
			ok(out)
		case r.Method == "POST" && r.URL.Path == "/zones/z1/dns_records":
			var rec map[string]any
			b, _ := io.ReadAll(r.Body)
			json.Unmarshal(b, &rec)
			records[fmt.Sprintf("r%d", len(records)+1)] = rec
			ok(rec)
		case r.Method == "PUT" && strings.HasPrefix(r.URL.Path, "/zones/z1/dns_records/"):
			var rec map[string]any
			b, _ := io.ReadAll(r.Body)
			json.Unmarshal(b, &rec)
			records[strings.TrimPrefix(r.URL.Path, "/zones/z1/dns_records/")] = rec
			ok(rec)
		default:
			w.WriteHeader(404)
			fmt.Fprint(w, `{"success":false,"errors":[{"code":7003,"message":"no route"}]}`)
		}
	}))
	defer cf.Close()
	c := &ddns.Cloudflare{URL: cf.URL, Token: "cf-token", Zone: "example.com", Client: cf.Client()}
	if err := c.Update(ctx, "office.example.com", netip.MustParseAddr("203.0.113.5")); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, "office.example.com", netip.MustParseAddr("203.0.113.6")); err != nil {
		t.Fatal(err)
	}
	if len(records) != 1 || records["r1"]["content"] != "203.0.113.6" || records["r1"]["proxied"] != false {
		t.Fatalf("records: %+v", records)
	}
	want := "GET /zones,GET /zones/z1/dns_records,POST /zones/z1/dns_records,GET /zones/z1/dns_records,PUT /zones/z1/dns_records/r1"
	if strings.Join(calls, ",") != want {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(calls, ","), want)
	}
	bad := &ddns.Cloudflare{URL: cf.URL, Token: "nope", Zone: "example.com", Client: cf.Client()}
	if err := bad.Update(ctx, "office.example.com", netip.MustParseAddr("203.0.113.5")); !ddns.IsFatal(err) || !strings.Contains(err.Error(), "Invalid access token") {
		t.Fatalf("bad token: %v", err)
	}
}
