package ddns_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/licgate/licgate/ddns"
	"github.com/licgate/licgate/ddns/ddnstest"
)

// echoDNS stands in for a DNS echo service: it answers name with an A,
// AAAA or TXT record holding answer (or nothing, if answer is "").
func echoDNS(t *testing.T, answer string) *ddnstest.Server {
	return ddnstest.StartServer(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if answer == "silent" {
			return // no reply: the client times out
		}
		q := r.Question[0]
		hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: q.Qclass, Ttl: 0}
		switch q.Qtype {
		case dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.ParseIP(answer)})
		case dns.TypeAAAA:
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: net.ParseIP(answer)})
		case dns.TypeTXT:
			m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr, Txt: []string{answer}})
		}
		w.WriteMsg(m)
	})
}

func dnsSource(label, answer string, t *testing.T, txt bool) *ddns.DNSSource {
	s := echoDNS(t, answer)
	return &ddns.DNSSource{Label: label, Server4: s.Addr, Server6: s.Addr, QName: "myip.opendns.com", TXT: txt, Timeout: 500 * time.Millisecond}
}

func httpSource(t *testing.T, label, body string, code int) *ddns.HTTPSource {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if body == "slow" {
			time.Sleep(2 * time.Second)
		}
		w.WriteHeader(code)
		fmt.Fprint(w, body+"\n")
	}))
	t.Cleanup(srv.Close)
	return &ddns.HTTPSource{Label: label, URL4: srv.URL, URL6: srv.URL, Client: srv.Client()}
}

func TestQuorum(t *testing.T) {
	const pub, other = "203.0.113.7", "198.51.100.9"
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		sources func(t *testing.T) []ddns.Source
		quorum  int
		want    string // "" means no quorum
	}{
		{"three agree", func(t *testing.T) []ddns.Source {
			return []ddns.Source{dnsSource("a", pub, t, false), dnsSource("b", pub, t, true), httpSource(t, "c", pub, 200)}
		}, 0, pub},
		{"two of three", func(t *testing.T) []ddns.Source {
			return []ddns.Source{dnsSource("a", pub, t, false), dnsSource("b", other, t, true), httpSource(t, "c", pub, 200)}
		}, 0, pub},
		{"all disagree", func(t *testing.T) []ddns.Source {
			return []ddns.Source{dnsSource("a", pub, t, false), dnsSource("b", other, t, true), httpSource(t, "c", "192.0.2.1", 200)}
		}, 0, ""},
		{"liar with private address", func(t *testing.T) []ddns.Source {
			return []ddns.Source{dnsSource("a", "10.0.0.1", t, false), dnsSource("b", "10.0.0.1", t, true), httpSource(t, "c", pub, 200)}
		}, 0, ""},
		{"CGNAT is not public", func(t *testing.T) []ddns.Source {
			return []ddns.Source{dnsSource("a", "100.64.1.2", t, false), httpSource(t, "c", "100.64.1.2", 200)}
		}, 0, ""},
		{"garbage", func(t *testing.T) []ddns.Source {
			return []ddns.Source{dnsSource("a", "<html>hello</html>", t, true), httpSource(t, "c", "not an ip", 200), httpSource(t, "d", pub, 200)}
		}, 0, ""},
		{"timeout and one good with quorum 1", func(t *testing.T) []ddns.Source {
			return []ddns.Source{dnsSource("a", "silent", t, false), httpSource(t, "c", pub, 200)}
		}, 1, pub},
		{"timeouts do not vote", func(t *testing.T) []ddns.Source {
			return []ddns.Source{dnsSource("a", "silent", t, false), httpSource(t, "s", "slow", 200), httpSource(t, "c", pub, 200)}
		}, 0, ""},
		{"http error", func(t *testing.T) []ddns.Source {
			return []ddns.Source{httpSource(t, "c", pub, 500), httpSource(t, "d", pub, 200)}
		}, 0, ""},
		{"single source needs only itself", func(t *testing.T) []ddns.Source {
			return []ddns.Source{httpSource(t, "c", pub, 200)}
		}, 0, pub},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &ddns.Detector{Sources: tc.sources(t), Quorum: tc.quorum, Timeout: time.Second}
			got, res, err := d.Detect(ctx, ddns.IPv4)
			if tc.want == "" {
				if err == nil || !errors.Is(err, ddns.ErrNoQuorum) {
					t.Fatalf("got %s, %v; want no quorum (%+v)", got, err, res)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Fatalf("got %s, %v; want %s (%+v)", got, err, tc.want, res)
			}
		})
	}
}

func TestFamiliesAreIndependent(t *testing.T) {
	v6 := dnsSource("a", "2001:db8::5", t, false)
	d := &ddns.Detector{Sources: []ddns.Source{v6}}
	got, _, err := d.Detect(context.Background(), ddns.IPv6)
	if err != nil || got.String() != "2001:db8::5" {
		t.Fatalf("v6: %v %v", got, err)
	}
	// An AAAA-style answer to an IPv4 question is not an IPv4 address.
	txt := dnsSource("b", "2001:db8::5", t, true)
	d = &ddns.Detector{Sources: []ddns.Source{txt}}
	if _, _, err := d.Detect(context.Background(), ddns.IPv4); err == nil || !strings.Contains(err.Error(), "is not ipv4") {
		t.Fatalf("family mismatch: %v", err)
	}
	ula := dnsSource("c", "fd00::1", t, false)
	d = &ddns.Detector{Sources: []ddns.Source{ula}}
	if _, _, err := d.Detect(context.Background(), ddns.IPv6); err == nil || !strings.Contains(err.Error(), "not a public address") {
		t.Fatalf("ULA accepted: %v", err)
	}
}

func TestCloudflareChaosQuery(t *testing.T) {
	var class atomic.Uint32 // written by the server goroutine
	srv := ddnstest.StartServer(t, func(w dns.ResponseWriter, r *dns.Msg) {
		class.Store(uint32(r.Question[0].Qclass))
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassCHAOS}, Txt: []string{"203.0.113.44"}})
		w.WriteMsg(m)
	})
	s := ddns.CloudflareWhoami()
	s.Server4 = srv.Addr // the stand-in replaces 1.1.1.1
	a, err := s.Detect(context.Background(), ddns.IPv4)
	if err != nil || a.String() != "203.0.113.44" || class.Load() != dns.ClassCHAOS {
		t.Fatalf("%v %v class=%d", a, err, class.Load())
	}
}

func TestInterfaceSource(t *testing.T) {
	s := &ddns.InterfaceSource{Addrs: func() (map[string][]netip.Addr, error) {
		return map[string][]netip.Addr{
			"lan0": {netip.MustParseAddr("192.168.1.1"), netip.MustParseAddr("fe80::1")},
			"wan0": {netip.MustParseAddr("100.64.3.4"), netip.MustParseAddr("203.0.113.8"), netip.MustParseAddr("2001:db8::8")},
			"lo":   {netip.MustParseAddr("127.0.0.1")},
		}, nil
	}}
	if a, err := s.Detect(context.Background(), ddns.IPv4); err != nil || a.String() != "203.0.113.8" {
		t.Fatalf("v4: %v %v", a, err)
	}
	if a, err := s.Detect(context.Background(), ddns.IPv6); err != nil || a.String() != "2001:db8::8" {
		t.Fatalf("v6: %v %v", a, err)
	}
	s.Interfaces = []string{"lan0"}
	if _, err := s.Detect(context.Background(), ddns.IPv4); err == nil {
		t.Fatal("private LAN address accepted as public")
	}
}
