package ddns

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

func client(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: 15 * time.Second}
}

// Dyndns2 speaks the dyndns2 protocol (No-IP, Dyn, and many others).
type Dyndns2 struct {
	// URL is the update endpoint, e.g. https://dynupdate.no-ip.com/nic/update.
	URL      string
	Username string
	Password string
	Client   *http.Client
}

// dyndns2 answers that stop the provider for good.
var dyndnsFatal = map[string]string{
	"badauth":  "bad user name or password",
	"!donator": "the feature needs a paid account",
	"notfqdn":  "the host name is not a fully qualified domain name",
	"nohost":   "the host name does not exist in this account",
	"numhost":  "too many hosts in one request",
	"abuse":    "the host is blocked for abuse",
	"badagent": "the client is blocked (User-Agent)",
	"!yours":   "the host name belongs to another account",
}

// Fingerprint identifies the configuration (the password only as a hash).
func (u *Dyndns2) Fingerprint() string {
	return configHash("dyndns2", u.URL, u.Username, secretHash(u.Password))
}

// Update implements Updater.
func (u *Dyndns2) Update(ctx context.Context, host string, addr netip.Addr) error {
	name := "dyndns2 " + hostOf(u.URL)
	q := url.Values{"hostname": {host}, "myip": {addr.String()}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.URL+"?"+q.Encode(), nil)
	if err != nil {
		return &FatalError{Provider: name, Code: "config", Msg: err.Error()}
	}
	req.SetBasicAuth(u.Username, u.Password)
	req.Header.Set("User-Agent", UserAgent)
	resp, err := client(u.Client).Do(req)
	if err != nil {
		return fmt.Errorf("ddns: %s: %w", name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	// Some providers answer 200 with an error in the body, others a 4xx
	// with "badauth": the body decides.
	text := strings.TrimSpace(string(body))
	code, _, _ := strings.Cut(text, " ")
	switch {
	case code == "good" || code == "nochg":
		return nil
	case dyndnsFatal[code] != "":
		return &FatalError{Provider: name, Code: code, Msg: dyndnsFatal[code]}
	case code == "911" || code == "dnserr" || resp.StatusCode >= 500:
		return &BackoffError{Provider: name, Code: firstNonEmpty(code, resp.Status), Wait: 30 * time.Minute}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return &FatalError{Provider: name, Code: resp.Status, Msg: "authentication failed"}
	}
	if len(text) > 80 {
		text = text[:80] + "..."
	}
	return fmt.Errorf("ddns: %s: unexpected answer %s %q", name, resp.Status, text)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func hostOf(u string) string {
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		return p.Host
	}
	return u
}

// DuckDNS updates a duckdns.org subdomain.
type DuckDNS struct {
	// URL is the API base. If empty, https://www.duckdns.org.
	URL    string
	Token  string
	Client *http.Client
}

// Fingerprint identifies the configuration (the token only as a hash).
func (u *DuckDNS) Fingerprint() string { return configHash("duckdns", u.URL, secretHash(u.Token)) }

// Update implements Updater. host may be "office" or "office.duckdns.org".
func (u *DuckDNS) Update(ctx context.Context, host string, addr netip.Addr) error {
	base := u.URL
	if base == "" {
		base = "https://www.duckdns.org"
	}
	q := url.Values{"domains": {strings.TrimSuffix(strings.TrimSuffix(host, "."), ".duckdns.org")}, "token": {u.Token}}
	if addr.Is4() {
		q.Set("ip", addr.String())
	} else {
		q.Set("ipv6", addr.String())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/update?"+q.Encode(), nil)
	if err != nil {
		return &FatalError{Provider: "duckdns", Code: "config", Msg: err.Error()}
	}
	req.Header.Set("User-Agent", UserAgent)
	resp, err := client(u.Client).Do(req)
	if err != nil {
		return fmt.Errorf("ddns: duckdns: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	switch strings.TrimSpace(string(body)) {
	case "OK":
		return nil
	case "KO":
		return &FatalError{Provider: "duckdns", Code: "KO", Msg: "wrong token or domain"}
	}
	if resp.StatusCode >= 500 {
		return &BackoffError{Provider: "duckdns", Code: resp.Status, Wait: 5 * time.Minute}
	}
	return fmt.Errorf("ddns: duckdns: unexpected answer %s %q", resp.Status, strings.TrimSpace(string(body)))
}

// Cloudflare updates a record through Cloudflare's API with a scoped
// token (Zone.DNS edit).
type Cloudflare struct {
	// URL is the API base. If empty, https://api.cloudflare.com/client/v4.
	URL    string
	Token  string
	Zone   string // e.g. example.com
	TTL    int    // seconds; 1 means automatic. If zero, 60.
	Client *http.Client

	zoneID string
}

type cfResponse struct {
	Success bool `json:"success"`
	Errors  []struct {
		Code    int
		Message string
	} `json:"errors"`
	Result json.RawMessage `json:"result"`
}

// Fingerprint identifies the configuration (the token only as a hash).
func (u *Cloudflare) Fingerprint() string {
	return configHash("cloudflare", u.URL, u.Zone, fmt.Sprint(u.TTL), secretHash(u.Token))
}

func (u *Cloudflare) call(ctx context.Context, method, path string, in, out any) error {
	base := u.URL
	if base == "" {
		base = "https://api.cloudflare.com/client/v4"
	}
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return &FatalError{Provider: "cloudflare", Code: "config", Msg: err.Error()}
	}
	req.Header.Set("Authorization", "Bearer "+u.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	resp, err := client(u.Client).Do(req)
	if err != nil {
		return fmt.Errorf("ddns: cloudflare: %w", err)
	}
	defer resp.Body.Close()
	var r cfResponse
	dec := json.NewDecoder(io.LimitReader(resp.Body, 1<<20))
	derr := dec.Decode(&r)
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return &FatalError{Provider: "cloudflare", Code: resp.Status, Msg: "the API token is invalid or lacks Zone.DNS edit on " + u.Zone + cfErrs(r)}
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return &BackoffError{Provider: "cloudflare", Code: resp.Status, Wait: 5 * time.Minute}
	case derr != nil:
		return fmt.Errorf("ddns: cloudflare: %s %s: bad answer: %w", method, path, derr)
	case !r.Success:
		return fmt.Errorf("ddns: cloudflare: %s %s: %s%s", method, path, resp.Status, cfErrs(r))
	}
	if out != nil {
		if err := json.Unmarshal(r.Result, out); err != nil {
			return fmt.Errorf("ddns: cloudflare: %s %s: bad result: %w", method, path, err)
		}
	}
	return nil
}

func cfErrs(r cfResponse) string {
	var parts []string
	for _, e := range r.Errors {
		parts = append(parts, fmt.Sprintf("%d %s", e.Code, e.Message))
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, "; ")
}

// Update implements Updater: look the zone up once, then update the
// record if it exists or create it.
func (u *Cloudflare) Update(ctx context.Context, host string, addr netip.Addr) error {
	if u.zoneID == "" {
		var zones []struct{ ID, Name string }
		if err := u.call(ctx, http.MethodGet, "/zones?name="+url.QueryEscape(u.Zone), nil, &zones); err != nil {
			return err
		}
		if len(zones) != 1 {
			return &FatalError{Provider: "cloudflare", Code: "zone", Msg: fmt.Sprintf("zone %s not found for this token", u.Zone)}
		}
		u.zoneID = zones[0].ID
	}
	typ := "A"
	if addr.Is6() {
		typ = "AAAA"
	}
	var recs []struct{ ID, Content string }
	q := url.Values{"type": {typ}, "name": {strings.TrimSuffix(host, ".")}}
	if err := u.call(ctx, http.MethodGet, "/zones/"+u.zoneID+"/dns_records?"+q.Encode(), nil, &recs); err != nil {
		return err
	}
	ttl := u.TTL
	if ttl == 0 {
		ttl = 60
	}
	rec := map[string]any{"type": typ, "name": strings.TrimSuffix(host, "."), "content": addr.String(), "ttl": ttl, "proxied": false}
	if len(recs) > 0 {
		if recs[0].Content == addr.String() {
			return nil
		}
		return u.call(ctx, http.MethodPut, "/zones/"+u.zoneID+"/dns_records/"+recs[0].ID, rec, nil)
	}
	return u.call(ctx, http.MethodPost, "/zones/"+u.zoneID+"/dns_records", rec, nil)
}
