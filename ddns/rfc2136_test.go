package ddns_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libdns/libdns"
	"github.com/miekg/dns"

	"github.com/licgate/licgate/ddns"
	"github.com/licgate/licgate/ddns/ddnstest"
)

func updater(b *ddnstest.BIND) *ddns.RFC2136 {
	return &ddns.RFC2136{Server: b.Addr, Zone: b.Zone, KeyName: b.KeyName, Secret: b.Secret, TTL: 30 * time.Second}
}

func query(t *testing.T, server, host string, fam ddns.Family) []netip.Addr {
	t.Helper()
	got, err := ddns.QueryAuthoritative(context.Background(), server, host, fam, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestRFC2136AgainstBIND(t *testing.T) {
	b := ddnstest.StartBIND(t, "example.test")
	ctx := context.Background()
	u := updater(b)
	host := "office.example.test"
	a1, a2 := netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.11")
	if err := u.Update(ctx, host, a1); err != nil {
		t.Fatal(err)
	}
	if got := query(t, b.Addr, host, ddns.IPv4); len(got) != 1 || got[0] != a1 {
		t.Fatalf("after first update: %v", got)
	}
	// The RRset is replaced, never added to.
	if err := u.Update(ctx, host, a2); err != nil {
		t.Fatal(err)
	}
	if got := query(t, b.Addr, host, ddns.IPv4); len(got) != 1 || got[0] != a2 {
		t.Fatalf("after second update: %v (want only %s)", got, a2)
	}
	// IPv6 is its own RRset; the A record stays.
	v6 := netip.MustParseAddr("2001:db8::10")
	if err := u.Update(ctx, host, v6); err != nil {
		t.Fatal(err)
	}
	if got := query(t, b.Addr, host, ddns.IPv6); len(got) != 1 || got[0] != v6 {
		t.Fatalf("AAAA: %v", got)
	}
	if got := query(t, b.Addr, host, ddns.IPv4); len(got) != 1 || got[0] != a2 {
		t.Fatalf("A after AAAA update: %v", got)
	}
	// TTL is what we asked for.
	m := new(dns.Msg)
	m.SetQuestion(host+".", dns.TypeA)
	r, err := dns.Exchange(m, b.Addr)
	if err != nil || len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 30 {
		t.Fatalf("ttl: %v %v", r, err)
	}
	// Key names are canonicalised: "DDNS-Key" without the dot works.
	u2 := updater(b)
	u2.KeyName = "DDNS-Key"
	if err := u2.Update(ctx, host, a1); err != nil {
		t.Fatalf("non-canonical key name: %v", err)
	}
}

func TestRFC2136Errors(t *testing.T) {
	b := ddnstest.StartBIND(t, "example.test")
	ctx := context.Background()
	host := "office.example.test"
	good := updater(b)
	a := netip.MustParseAddr("203.0.113.20")
	if err := good.Update(ctx, host, a); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*ddns.RFC2136)
		want []string
	}{
		{"wrong secret", func(u *ddns.RFC2136) { u.Secret = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=" }, []string{"BADSIG", "check the secret"}},
		{"unknown key", func(u *ddns.RFC2136) { u.KeyName = "nobody" }, []string{"BADKEY", "nobody."}},
		{"clock skew", func(u *ddns.RFC2136) { u.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) } }, []string{"BADTIME", "clock"}},
		{"wrong zone", func(u *ddns.RFC2136) { u.Zone = "other.test" }, []string{"NOTAUTH", "zone other.test."}},
		{"name outside zone", func(u *ddns.RFC2136) { u.Zone = "sub.example.test" }, []string{"zone sub.example.test."}},
		{"md5", func(u *ddns.RFC2136) { u.Algorithm = "hmac-md5" }, []string{"not supported"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := updater(b)
			tc.mod(u)
			err := u.Update(ctx, host, netip.MustParseAddr("203.0.113.99"))
			if err == nil {
				t.Fatal("update succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if tc.name != "md5" && !ddns.IsFatal(err) {
				t.Errorf("not fatal: %v", err)
			}
			if got := query(t, b.Addr, host, ddns.IPv4); len(got) != 1 || got[0] != a {
				t.Fatalf("a refused update changed the record: %v", got)
			}
		})
	}
}

// TestLibdnsThroughBIND: the certmagic DNS-01 path appends and deletes a
// TXT record through the same updater.
func TestLibdnsThroughBIND(t *testing.T) {
	b := ddnstest.StartBIND(t, "example.test")
	ctx := context.Background()
	u := updater(b)
	rec := libdns.RR{Name: "_acme-challenge.office", Type: "TXT", Data: "token-123 with \"quotes\"", TTL: time.Minute}
	if _, err := u.AppendRecords(ctx, "example.test.", []libdns.Record{rec}); err != nil {
		t.Fatal(err)
	}
	txt := func() []string {
		m := new(dns.Msg)
		m.SetQuestion("_acme-challenge.office.example.test.", dns.TypeTXT)
		r, err := dns.Exchange(m, b.Addr)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range r.Answer {
			out = append(out, strings.Join(a.(*dns.TXT).Txt, ""))
		}
		return out
	}
	// miekg/dns keeps TXT data in presentation form: \" is a quote.
	if got := txt(); len(got) != 1 || got[0] != `token-123 with \"quotes\"` {
		t.Fatalf("TXT after append: %q", got)
	}
	if _, err := u.DeleteRecords(ctx, "example.test.", []libdns.Record{rec}); err != nil {
		t.Fatal(err)
	}
	if got := txt(); len(got) != 0 {
		t.Fatalf("TXT after delete: %q", got)
	}
}

// A server that answers NOERROR and ignores the update is caught by the
// read-back; truncated UDP answers are retried over TCP.
func TestRFC2136VerifiesAndFallsBackToTCP(t *testing.T) {
	var tcpSeen atomic.Bool // written by the server goroutine
	srv := ddnstest.StartServer(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if w.LocalAddr().Network() == "udp" && r.Opcode == dns.OpcodeUpdate {
			m.Truncated = true
		} else if r.Opcode == dns.OpcodeUpdate {
			tcpSeen.Store(true)
		}
		if r.Opcode == dns.OpcodeQuery {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A: netip.MustParseAddr("203.0.113.1").AsSlice()})
		}
		w.WriteMsg(m)
	})
	u := &ddns.RFC2136{Server: srv.Addr, Zone: "example.test"}
	err := u.Update(context.Background(), "office.example.test", netip.MustParseAddr("203.0.113.2"))
	if err == nil || !strings.Contains(err.Error(), "answered NOERROR but") {
		t.Fatalf("ignored update not caught: %v", err)
	}
	if !tcpSeen.Load() {
		t.Fatal("truncated UDP answer was not retried over TCP")
	}
	var fe *ddns.FatalError
	if errors.As(err, &fe) {
		t.Fatal("a silently ignored update is not a configuration error")
	}
}
