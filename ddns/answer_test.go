package ddns_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/licgate/licgate/ddns"
	"github.com/licgate/licgate/ddns/ddnstest"
)

// liar answers questions with records that do not answer them.
func liar(t *testing.T, how string) *ddnstest.Server {
	return ddnstest.StartServer(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if r.Opcode == dns.OpcodeUpdate {
			w.WriteMsg(m) // NOERROR, whatever was asked
			return
		}
		q := r.Question[0]
		hdr := func(name string, typ uint16) dns.RR_Header {
			return dns.RR_Header{Name: name, Rrtype: typ, Class: q.Qclass, Ttl: 60}
		}
		const pub = "203.0.113.2"
		switch how {
		case "other name":
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr("evil.example.", dns.TypeA), A: net.ParseIP(pub)})
		case "txt for a":
			m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr(q.Name, dns.TypeTXT), Txt: []string{pub}})
		case "aaaa for a":
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr(q.Name, dns.TypeAAAA), AAAA: net.ParseIP("2001:db8::2")})
		case "cname chain":
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: hdr(q.Name, dns.TypeCNAME), Target: "elsewhere.example."},
				&dns.A{Hdr: hdr("elsewhere.example.", dns.TypeA), A: net.ParseIP(pub)})
		case "extra record":
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(q.Name, dns.TypeA), A: net.ParseIP(pub)},
				&dns.A{Hdr: hdr("evil.example.", dns.TypeA), A: net.ParseIP(pub)})
		case "other question":
			m.Question[0].Name = "evil.example."
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr("evil.example.", dns.TypeA), A: net.ParseIP(pub)})
		case "honest, upper case":
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(strings.ToUpper(q.Name), dns.TypeA), A: net.ParseIP(pub)})
		}
		w.WriteMsg(m)
	})
}

var lies = []string{"other name", "txt for a", "aaaa for a", "cname chain", "extra record", "other question"}

// Public-address detection refuses answers for another name or type.
func TestDNSSourceRefusesMismatchedAnswers(t *testing.T) {
	for _, how := range append(lies, "honest, upper case") {
		t.Run(how, func(t *testing.T) {
			s := liar(t, how)
			src := &ddns.DNSSource{Label: "echo", Server4: s.Addr, QName: "myip.opendns.com", Timeout: 2 * time.Second}
			a, err := src.Detect(context.Background(), ddns.IPv4)
			if how == "honest, upper case" {
				if err != nil || a.String() != "203.0.113.2" {
					t.Fatalf("honest answer: %v %v", a, err)
				}
				return
			}
			if !errors.Is(err, ddns.ErrAnswerMismatch) {
				t.Fatalf("accepted %v (err %v)", a, err)
			}
		})
	}
}

// The RFC 2136 read-back refuses the same lies: an update is not
// confirmed by a record for another name or a CNAME to elsewhere.
func TestRFC2136ReadBackRefusesMismatchedAnswers(t *testing.T) {
	for _, how := range append(lies, "honest, upper case") {
		t.Run(how, func(t *testing.T) {
			s := liar(t, how)
			u := &ddns.RFC2136{Server: s.Addr, Zone: "example.test", Timeout: 2 * time.Second}
			err := u.Update(context.Background(), "office.example.test", netip.MustParseAddr("203.0.113.2"))
			if how == "honest, upper case" {
				if err != nil {
					t.Fatalf("honest read-back: %v", err)
				}
				return
			}
			if !errors.Is(err, ddns.ErrAnswerMismatch) {
				t.Fatalf("update confirmed by a lie: %v", err)
			}
			if _, err := ddns.QueryAuthoritative(context.Background(), s.Addr, "office.example.test", ddns.IPv4, 2*time.Second); !errors.Is(err, ddns.ErrAnswerMismatch) {
				t.Fatalf("QueryAuthoritative: %v", err)
			}
		})
	}
}
