package ddns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Family is an address family.
type Family uint8

const (
	IPv4 Family = 4
	IPv6 Family = 6
)

func (f Family) String() string {
	if f == IPv6 {
		return "ipv6"
	}
	return "ipv4"
}

// RRType is the DNS record type for the family.
func (f Family) RRType() string {
	if f == IPv6 {
		return "AAAA"
	}
	return "A"
}

func (f Family) matches(a netip.Addr) bool {
	return f == IPv4 && a.Is4() || f == IPv6 && a.Is6() && !a.Is4In6()
}

// Source tells the public address of one family.
type Source interface {
	Name() string
	Detect(ctx context.Context, fam Family) (netip.Addr, error)
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// ErrNotPublic means a source answered an address that cannot be the
// office's public one.
var ErrNotPublic = errors.New("not a public address")

// CheckPublic rejects addresses a public endpoint can never have: private
// (RFC 1918 and IPv6 ULA), CGNAT (100.64/10), loopback, link-local,
// multicast, unspecified and reserved ranges.
func CheckPublic(a netip.Addr) error {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return fmt.Errorf("%w: empty", ErrNotPublic)
	case a.IsPrivate(), cgnat.Contains(a), a.IsLoopback(), a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast(),
		a.IsMulticast(), a.IsUnspecified(), a.IsInterfaceLocalMulticast():
		return fmt.Errorf("%w: %s", ErrNotPublic, a)
	}
	for _, p := range reservedNets {
		if p.Contains(a) {
			return fmt.Errorf("%w: %s (reserved range)", ErrNotPublic, a)
		}
	}
	return nil
}

// reservedNets are never assigned to hosts. (Documentation ranges such as
// 203.0.113.0/24 pass: tests use them as stand-in public addresses.)
var reservedNets = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/8"), netip.MustParsePrefix("240.0.0.0/4")}

// DNSSource asks a DNS echo server directly (never through a recursive
// resolver, which may answer from a split-horizon view or a cache).
type DNSSource struct {
	Label string
	// Server is host:port of the echo server, per family (the query is
	// sent over that family). An empty entry disables the family.
	Server4, Server6 string
	// QName is asked; QType is A/AAAA for "address" answers or TXT.
	QName string
	// TXT: the answer is a TXT record holding the address (Google, Cloudflare).
	TXT bool
	// Class is dns.ClassINET or dns.ClassCHAOS (Cloudflare). If zero, INET.
	Class uint16
	// Timeout per query. If zero, 3s.
	Timeout time.Duration
}

func (s *DNSSource) Name() string { return s.Label }

// Detect implements Source.
func (s *DNSSource) Detect(ctx context.Context, fam Family) (netip.Addr, error) {
	server := s.Server4
	if fam == IPv6 {
		server = s.Server6
	}
	if server == "" {
		return netip.Addr{}, fmt.Errorf("ddns: %s: no %s server configured", s.Label, fam)
	}
	m := new(dns.Msg)
	qtype := dns.TypeA
	if fam == IPv6 {
		qtype = dns.TypeAAAA
	}
	if s.TXT {
		qtype = dns.TypeTXT
	}
	m.SetQuestion(dns.Fqdn(s.QName), qtype)
	m.RecursionDesired = false
	if s.Class != 0 {
		m.Question[0].Qclass = s.Class
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 3 * time.Second
	}
	// The family of the query is the family of Server4/Server6.
	c := &dns.Client{Net: "udp", Timeout: timeout}
	r, _, err := c.ExchangeContext(ctx, m, server)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("ddns: %s: query %s at %s: %w", s.Label, s.QName, server, err)
	}
	if r.Rcode != dns.RcodeSuccess {
		return netip.Addr{}, fmt.Errorf("ddns: %s: %s answered %s", s.Label, server, dns.RcodeToString[r.Rcode])
	}
	// Only a record for exactly the question counts: an answer for
	// another name or type (or a CNAME leading elsewhere) is what a
	// spoofer or a broken middlebox sends, and is refused whole.
	if err := checkAnswer(m.Question[0], r); err != nil {
		return netip.Addr{}, fmt.Errorf("ddns: %s: %s: %w", s.Label, server, err)
	}
	for _, rr := range r.Answer {
		var txt string
		switch v := rr.(type) {
		case *dns.A:
			txt = v.A.String()
		case *dns.AAAA:
			txt = v.AAAA.String()
		case *dns.TXT:
			txt = strings.Join(v.Txt, "")
		}
		return parseAnswer(s.Label, txt, fam)
	}
	return netip.Addr{}, fmt.Errorf("ddns: %s: %s gave no usable answer", s.Label, server)
}

// ErrAnswerMismatch means a DNS answer does not answer the question
// asked: its question section, or a record's name, type or class, differs.
var ErrAnswerMismatch = errors.New("answer does not match the question")

// checkAnswer accepts r only if it echoes question q and every answer
// record has q's name (case-insensitively), type and class.
func checkAnswer(q dns.Question, r *dns.Msg) error {
	if len(r.Question) != 1 || !strings.EqualFold(r.Question[0].Name, q.Name) || r.Question[0].Qtype != q.Qtype || r.Question[0].Qclass != q.Qclass {
		got := "none"
		if len(r.Question) > 0 {
			got = strings.TrimSpace(r.Question[0].String())
		}
		return fmt.Errorf("%w: asked %s %s, the reply's question is %s", ErrAnswerMismatch, q.Name, dns.TypeToString[q.Qtype], got)
	}
	for _, rr := range r.Answer {
		h := rr.Header()
		if !strings.EqualFold(h.Name, q.Name) || h.Rrtype != q.Qtype || h.Class != q.Qclass {
			return fmt.Errorf("%w: asked %s %s, got %s", ErrAnswerMismatch, q.Name, dns.TypeToString[q.Qtype], strings.ReplaceAll(rr.String(), "\t", " "))
		}
	}
	return nil
}

func parseAnswer(label, txt string, fam Family) (netip.Addr, error) {
	txt = strings.TrimSpace(txt)
	a, err := netip.ParseAddr(txt)
	if err != nil {
		if len(txt) > 60 {
			txt = txt[:60] + "..."
		}
		return netip.Addr{}, fmt.Errorf("ddns: %s: answer %q is not an address", label, txt)
	}
	a = a.Unmap()
	if !fam.matches(a) {
		return netip.Addr{}, fmt.Errorf("ddns: %s: answer %s is not %s", label, a, fam)
	}
	if err := CheckPublic(a); err != nil {
		return netip.Addr{}, fmt.Errorf("ddns: %s: %w", label, err)
	}
	return a, nil
}

// OpenDNS asks myip.opendns.com at OpenDNS's resolvers.
func OpenDNS() *DNSSource {
	return &DNSSource{Label: "opendns", Server4: "208.67.222.222:53", Server6: "[2620:119:35::35]:53", QName: "myip.opendns.com"}
}

// GoogleMyaddr asks o-o.myaddr.l.google.com TXT at ns1.google.com.
func GoogleMyaddr() *DNSSource {
	return &DNSSource{Label: "google", Server4: "216.239.32.10:53", Server6: "[2001:4860:4802:32::a]:53", QName: "o-o.myaddr.l.google.com", TXT: true}
}

// CloudflareWhoami asks whoami.cloudflare TXT in class CH at 1.1.1.1.
func CloudflareWhoami() *DNSSource {
	return &DNSSource{Label: "cloudflare", Server4: "1.1.1.1:53", Server6: "[2606:4700:4700::1111]:53", QName: "whoami.cloudflare", TXT: true, Class: dns.ClassCHAOS}
}

// HTTPSource fetches an echo URL whose body is the caller's address.
type HTTPSource struct {
	Label string
	URL4  string // empty disables IPv4
	URL6  string // empty disables IPv6
	// Client; if nil, one with a 5s timeout. Tests point URLs at httptest.
	Client *http.Client
}

func (s *HTTPSource) Name() string { return s.Label }

// Detect implements Source.
func (s *HTTPSource) Detect(ctx context.Context, fam Family) (netip.Addr, error) {
	u := s.URL4
	if fam == IPv6 {
		u = s.URL6
	}
	if u == "" {
		return netip.Addr{}, fmt.Errorf("ddns: %s: no %s URL configured", s.Label, fam)
	}
	c := s.Client
	if c == nil {
		c = &http.Client{Timeout: 5 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("ddns: %s: %w", s.Label, err)
	}
	req.Header.Set("User-Agent", UserAgent)
	resp, err := c.Do(req)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("ddns: %s: %w", s.Label, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 512))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("ddns: %s: read: %w", s.Label, err)
	}
	if resp.StatusCode != http.StatusOK {
		return netip.Addr{}, fmt.Errorf("ddns: %s: HTTP %d", s.Label, resp.StatusCode)
	}
	return parseAnswer(s.Label, string(body), fam)
}

// InterfaceSource reads addresses of local interfaces, for routers that
// hold the public address themselves.
type InterfaceSource struct {
	// Interfaces to look at; empty means all.
	Interfaces []string
	// Addrs lists addresses; if nil, the machine's. Tests replace it.
	Addrs func() (map[string][]netip.Addr, error)
}

func (s *InterfaceSource) Name() string { return "interface" }

// LocalAddrs lists each interface's addresses.
func LocalAddrs() (map[string][]netip.Addr, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	out := map[string][]netip.Addr{}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				out[ifc.Name] = append(out[ifc.Name], p.Addr())
			}
		}
	}
	return out, nil
}

// Detect implements Source: the first public address of the family.
func (s *InterfaceSource) Detect(ctx context.Context, fam Family) (netip.Addr, error) {
	list := s.Addrs
	if list == nil {
		list = LocalAddrs
	}
	all, err := list()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("ddns: interface: %w", err)
	}
	names := s.Interfaces
	if len(names) == 0 {
		for n := range all {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	for _, n := range names {
		for _, a := range all[n] {
			if fam.matches(a) && CheckPublic(a) == nil {
				return a, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("ddns: interface: no public %s address on %s", fam, strings.Join(names, ", "))
}

// SourceResult is one source's answer in a detection.
type SourceResult struct {
	Source string     `json:"source"`
	Addr   netip.Addr `json:"addr,omitzero"`
	Err    string     `json:"error,omitempty"`
}

// Detector asks every source and applies a quorum.
type Detector struct {
	Sources []Source
	// Quorum is how many sources must agree. If zero: 2, or 1 when only
	// one source is configured.
	Quorum int
	// Timeout per source. If zero, 5s.
	Timeout time.Duration
}

func (d *Detector) quorum() int {
	if d.Quorum > 0 {
		return d.Quorum
	}
	if len(d.Sources) < 2 {
		return 1
	}
	return 2
}

// ErrNoQuorum means the sources did not agree enough.
var ErrNoQuorum = errors.New("no quorum")

// Detect asks all sources at once and returns the address at least
// Quorum of them gave, with every source's result.
func (d *Detector) Detect(ctx context.Context, fam Family) (netip.Addr, []SourceResult, error) {
	timeout := d.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	res := make([]SourceResult, len(d.Sources))
	var wg sync.WaitGroup
	for i, s := range d.Sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			a, err := s.Detect(cctx, fam)
			res[i] = SourceResult{Source: s.Name(), Addr: a}
			if err != nil {
				res[i] = SourceResult{Source: s.Name(), Err: err.Error()}
			}
		}()
	}
	wg.Wait()
	votes := map[netip.Addr]int{}
	for _, r := range res {
		if r.Err == "" {
			votes[r.Addr]++
		}
	}
	var best netip.Addr
	bestN := 0
	for a, n := range votes {
		if n > bestN || n == bestN && a.Less(best) {
			best, bestN = a, n
		}
	}
	if bestN >= d.quorum() {
		return best, res, nil
	}
	var parts []string
	for _, r := range res {
		if r.Err != "" {
			parts = append(parts, r.Source+": "+r.Err)
		} else {
			parts = append(parts, r.Source+": "+r.Addr.String())
		}
	}
	return netip.Addr{}, res, fmt.Errorf("ddns: detect %s: %w (need %d agreeing of %d): %s", fam, ErrNoQuorum, d.quorum(), len(d.Sources), strings.Join(parts, "; "))
}

// UserAgent is sent on every HTTP request, as dyndns2 providers require.
var UserAgent = "licgate-ddns/1.0 (+https://github.com/licgate/licgate)"
