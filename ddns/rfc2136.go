package ddns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/libdns/libdns"
	"github.com/licgate/licgate/internal/boundedfile"
	"github.com/miekg/dns"
)

// RFC2136 updates records with DNS UPDATE, signed with TSIG. It also
// implements libdns.RecordAppender and libdns.RecordDeleter, so certmagic's
// DNS-01 solver can publish ACME challenges through the same code.
type RFC2136 struct {
	// Server is the primary's host:port.
	Server string
	// Zone is the zone to update, e.g. "example.com".
	Zone string
	// KeyName is the TSIG key name; it is canonicalised to a lowercase FQDN.
	KeyName string
	// Secret is the base64 TSIG secret; SecretFile may hold it instead.
	Secret     string
	SecretFile string
	// Algorithm: hmac-sha256 (default), hmac-sha512, hmac-sha1. hmac-md5 is
	// not supported.
	Algorithm string
	// TTL of written records. If zero, 60s.
	TTL time.Duration
	// Timeout per exchange. If zero, 5s.
	Timeout time.Duration
	// Now overrides the clock used for TSIG's time signed (tests provoke
	// BADTIME with it). If nil, time.Now.
	Now func() time.Time

	once   sync.Once
	secret string
	err    error
}

// Fingerprint identifies the configuration (the secret only as a hash),
// so a hold stored after NOTAUTH or BADSIG ends when any of it changes.
func (u *RFC2136) Fingerprint() string {
	secret, err := u.loadSecret()
	if err != nil {
		secret = "error: " + err.Error()
	}
	return configHash("rfc2136", u.Server, u.Zone, u.keyName(), strings.ToLower(u.Algorithm), u.TTL.String(), secretHash(secret))
}

func (u *RFC2136) name() string { return "rfc2136 " + u.Server }

func (u *RFC2136) keyName() string { return strings.ToLower(dns.Fqdn(u.KeyName)) }

func (u *RFC2136) algorithm() (string, error) {
	switch strings.ToLower(strings.TrimSuffix(u.Algorithm, ".")) {
	case "", "hmac-sha256":
		return dns.HmacSHA256, nil
	case "hmac-sha512":
		return dns.HmacSHA512, nil
	case "hmac-sha1":
		return dns.HmacSHA1, nil
	case "hmac-md5", "hmac-md5.sig-alg.reg.int":
		return "", fmt.Errorf("ddns: rfc2136: algorithm %s is not supported (use hmac-sha256)", u.Algorithm)
	}
	return "", fmt.Errorf("ddns: rfc2136: unknown algorithm %q (hmac-sha256, hmac-sha512, hmac-sha1)", u.Algorithm)
}

func (u *RFC2136) loadSecret() (string, error) {
	u.once.Do(func() {
		u.secret = u.Secret
		if u.SecretFile != "" {
			b, err := boundedfile.Read(u.SecretFile, boundedfile.Secret)
			if err != nil {
				u.err = fmt.Errorf("ddns: rfc2136: secret file: %w", err)
				return
			}
			u.secret = strings.TrimSpace(string(b))
		}
		if u.secret == "" && u.KeyName != "" {
			u.err = fmt.Errorf("ddns: rfc2136: key %s has no secret", u.KeyName)
		}
	})
	return u.secret, u.err
}

func (u *RFC2136) ttl() uint32 {
	if u.TTL == 0 {
		return 60
	}
	return uint32(u.TTL / time.Second)
}

func (u *RFC2136) timeout() time.Duration {
	if u.Timeout == 0 {
		return 5 * time.Second
	}
	return u.Timeout
}

// exchange signs m (TSIG last) and sends it over UDP, retrying over TCP
// when the answer is truncated.
func (u *RFC2136) exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	secret, err := u.loadSecret()
	if err != nil {
		return nil, err
	}
	alg, err := u.algorithm()
	if err != nil {
		return nil, err
	}
	c := &dns.Client{Net: "udp", Timeout: u.timeout()}
	if u.KeyName != "" {
		c.TsigSecret = map[string]string{u.keyName(): secret}
		now := time.Now
		if u.Now != nil {
			now = u.Now
		}
		m.SetTsig(u.keyName(), alg, 300, now().Unix())
	}
	r, _, err := c.ExchangeContext(ctx, m, u.Server)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, u.Server)
	}
	if err != nil && r != nil && r.MsgHdr.Response {
		// The server answered, but its answer did not verify: usually
		// because it refused our signature and could not sign its reply.
		// Its rcode and TSIG error say why.
		if rerr := u.rcodeErr(r); rerr != nil {
			return r, rerr
		}
		return r, &FatalError{Provider: u.name(), Code: "TSIG", Msg: fmt.Sprintf("the server's answer failed TSIG verification (%v): wrong secret or clock skew", err)}
	}
	if err != nil {
		return r, fmt.Errorf("ddns: %s: %w", u.name(), err)
	}
	return r, nil
}

// send signs and sends an UPDATE and maps its answer to an error.
func (u *RFC2136) send(ctx context.Context, m *dns.Msg) error {
	r, err := u.exchange(ctx, m)
	if err != nil {
		return err
	}
	return u.rcodeErr(r)
}

// rcodeErr maps an UPDATE answer onto an error naming the zone and key.
func (u *RFC2136) rcodeErr(r *dns.Msg) error {
	if t := r.IsTsig(); t != nil && t.Error != dns.RcodeSuccess {
		code := dns.RcodeToString[int(t.Error)]
		msg := "the server rejected the TSIG signature"
		switch int(t.Error) {
		case dns.RcodeBadTime:
			msg = "the server says the request's time is off: check this machine's clock (NTP)"
		case dns.RcodeBadKey:
			msg = fmt.Sprintf("the server does not know key %s (or its algorithm)", u.keyName())
		case dns.RcodeBadSig:
			msg = fmt.Sprintf("the signature with key %s is wrong: check the secret", u.keyName())
		}
		return &FatalError{Provider: u.name(), Code: code, Msg: msg}
	}
	switch r.Rcode {
	case dns.RcodeSuccess:
		return nil
	case dns.RcodeNotAuth:
		return &FatalError{Provider: u.name(), Code: "NOTAUTH", Msg: fmt.Sprintf("the server is not authoritative for zone %s, or key %s may not update it: check zone and key", dns.Fqdn(u.Zone), u.keyName())}
	case dns.RcodeNotZone:
		return &FatalError{Provider: u.name(), Code: "NOTZONE", Msg: fmt.Sprintf("the name is not inside zone %s: check the zone", dns.Fqdn(u.Zone))}
	case dns.RcodeRefused:
		return &FatalError{Provider: u.name(), Code: "REFUSED", Msg: fmt.Sprintf("the server refused the update of zone %s: check allow-update/update-policy for key %s", dns.Fqdn(u.Zone), u.keyName())}
	case dns.RcodeServerFailure:
		return fmt.Errorf("ddns: %s: SERVFAIL updating zone %s", u.name(), dns.Fqdn(u.Zone))
	}
	return fmt.Errorf("ddns: %s: update of zone %s answered %s", u.name(), dns.Fqdn(u.Zone), dns.RcodeToString[r.Rcode])
}

func rr(host string, ttl uint32, a netip.Addr) dns.RR {
	h := dns.RR_Header{Name: dns.Fqdn(host), Class: dns.ClassINET, Ttl: ttl}
	if a.Is4() {
		h.Rrtype = dns.TypeA
		return &dns.A{Hdr: h, A: net.IP(a.AsSlice())}
	}
	h.Rrtype = dns.TypeAAAA
	return &dns.AAAA{Hdr: h, AAAA: net.IP(a.AsSlice())}
}

// Update replaces host's A (or AAAA) RRset with addr in one message, then
// reads it back from the server: some servers answer NOERROR and ignore.
func (u *RFC2136) Update(ctx context.Context, host string, addr netip.Addr) error {
	addr = addr.Unmap()
	m := new(dns.Msg)
	m.SetUpdate(dns.Fqdn(u.Zone))
	rec := rr(host, u.ttl(), addr)
	// RemoveRRset needs a record of the type; the data is ignored.
	m.RemoveRRset([]dns.RR{rec})
	m.Insert([]dns.RR{rec})
	if err := u.send(ctx, m); err != nil {
		return err
	}
	fam := IPv4
	if addr.Is6() {
		fam = IPv6
	}
	got, err := u.Current(ctx, host, fam)
	if err != nil {
		return fmt.Errorf("ddns: %s: verify %s: %w", u.name(), host, err)
	}
	if len(got) != 1 || got[0] != addr {
		return fmt.Errorf("ddns: %s: server answered NOERROR but %s %s is %v, not %s", u.name(), host, fam.RRType(), got, addr)
	}
	return nil
}

// Current asks the server itself (not a resolver) for host's addresses.
func (u *RFC2136) Current(ctx context.Context, host string, fam Family) ([]netip.Addr, error) {
	return QueryAuthoritative(ctx, u.Server, host, fam, u.timeout())
}

// QueryAuthoritative asks server directly for host's A or AAAA records.
// An empty answer (or NXDOMAIN) is no addresses and no error.
func QueryAuthoritative(ctx context.Context, server, host string, fam Family, timeout time.Duration) ([]netip.Addr, error) {
	m := new(dns.Msg)
	qt := dns.TypeA
	if fam == IPv6 {
		qt = dns.TypeAAAA
	}
	m.SetQuestion(dns.Fqdn(host), qt)
	m.RecursionDesired = false
	c := &dns.Client{Timeout: timeout}
	r, _, err := c.ExchangeContext(ctx, m, server)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, server)
	}
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("query %s at %s: %s", host, server, dns.RcodeToString[r.Rcode])
	}
	// A record for another name, another type or a CNAME to elsewhere
	// does not say what this name holds: refuse, never count it.
	if err := checkAnswer(m.Question[0], r); err != nil {
		return nil, fmt.Errorf("query %s at %s: %w", host, server, err)
	}
	var out []netip.Addr
	for _, a := range r.Answer {
		switch v := a.(type) {
		case *dns.A:
			if ad, ok := netip.AddrFromSlice(v.A.To4()); ok {
				out = append(out, ad)
			}
		case *dns.AAAA:
			if ad, ok := netip.AddrFromSlice(v.AAAA); ok {
				out = append(out, ad)
			}
		}
	}
	return out, nil
}

// libdns: AppendRecords and DeleteRecords, for certmagic's DNS-01 solver.
var (
	_ libdns.RecordAppender = (*RFC2136)(nil)
	_ libdns.RecordDeleter  = (*RFC2136)(nil)
)

func (u *RFC2136) toRRs(zone string, recs []libdns.Record) ([]dns.RR, error) {
	out := make([]dns.RR, 0, len(recs))
	for _, rec := range recs {
		r := rec.RR()
		name := libdns.AbsoluteName(r.Name, zone)
		ttl := uint32(r.TTL / time.Second)
		if ttl == 0 {
			ttl = u.ttl()
		}
		data := r.Data
		if r.Type == "TXT" {
			data = `"` + strings.ReplaceAll(strings.ReplaceAll(data, `\`, `\\`), `"`, `\"`) + `"`
		}
		text := fmt.Sprintf("%s %d IN %s %s", dns.Fqdn(name), ttl, r.Type, data)
		if r.Type == "" || r.Data == "" {
			// Deleting by name (and type): an RRset deletion.
			text = fmt.Sprintf("%s %d IN %s", dns.Fqdn(name), ttl, orANY(r.Type))
		}
		parsed, err := dns.NewRR(text)
		if err != nil {
			return nil, fmt.Errorf("ddns: rfc2136: record %q: %w", text, err)
		}
		out = append(out, parsed)
	}
	return out, nil
}

func orANY(t string) string {
	if t == "" {
		return "ANY"
	}
	return t
}

// AppendRecords adds records (e.g. _acme-challenge TXT) to zone.
func (u *RFC2136) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	rrs, err := u.toRRs(zone, recs)
	if err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	m.SetUpdate(dns.Fqdn(zone))
	m.Insert(rrs)
	if err := u.send(ctx, m); err != nil {
		return nil, err
	}
	return recs, nil
}

// DeleteRecords removes exactly the given records (or, with Type or Data
// empty, the matching RRsets) from zone.
func (u *RFC2136) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	rrs, err := u.toRRs(zone, recs)
	if err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	m.SetUpdate(dns.Fqdn(zone))
	var exact, sets []dns.RR
	for i, rec := range recs {
		if r := rec.RR(); r.Type == "" || r.Data == "" {
			sets = append(sets, rrs[i])
		} else {
			exact = append(exact, rrs[i])
		}
	}
	if len(exact) > 0 {
		m.Remove(exact)
	}
	if len(sets) > 0 {
		m.RemoveRRset(sets)
	}
	if err := u.send(ctx, m); err != nil {
		return nil, err
	}
	return recs, nil
}
