package tunnel

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Profile is a home device's wg-quick configuration. It routes only the
// gateway's tunnel address (split tunnel): home traffic never crosses the
// office line.
type Profile struct {
	PrivateKey Key          // the device's private key: shown once, never stored by licgate
	Address    netip.Prefix // the device's tunnel address, /32 or /128
	MTU        int          // omitted when zero

	PeerPublicKey Key            // the gateway's public key
	Endpoint      string         // host:port of the gateway, usually a DNS name kept current by DDNS
	AllowedIPs    []netip.Prefix // the gateway's tunnel address only
	// PersistentKeepalive in seconds. Zero omits it.
	PersistentKeepalive int
}

// errProfile marks every profile parse error.
var errProfile = errors.New("tunnel: profile")

// String renders the profile as a wg-quick file.
func (p Profile) String() string {
	var b strings.Builder
	b.WriteString("[Interface]\n")
	fmt.Fprintf(&b, "PrivateKey = %s\n", p.PrivateKey)
	fmt.Fprintf(&b, "Address = %s\n", p.Address)
	if p.MTU > 0 {
		fmt.Fprintf(&b, "MTU = %d\n", p.MTU)
	}
	b.WriteString("\n[Peer]\n")
	fmt.Fprintf(&b, "PublicKey = %s\n", p.PeerPublicKey)
	fmt.Fprintf(&b, "Endpoint = %s\n", p.Endpoint)
	ips := make([]string, len(p.AllowedIPs))
	for i, a := range p.AllowedIPs {
		ips[i] = a.String()
	}
	fmt.Fprintf(&b, "AllowedIPs = %s\n", strings.Join(ips, ", "))
	if p.PersistentKeepalive > 0 {
		fmt.Fprintf(&b, "PersistentKeepalive = %d\n", p.PersistentKeepalive)
	}
	return b.String()
}

// ParseProfile reads a wg-quick file with one [Interface] and one [Peer],
// as licgate writes them. Errors name the line. Keys wg-quick knows but a
// netstack client does not need (DNS, PostUp, ...) are rejected rather than
// silently ignored.
func ParseProfile(text string) (Profile, error) {
	var p Profile
	section := ""
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = strings.ToLower(strings.Trim(line, "[]"))
			if section != "interface" && section != "peer" {
				return p, fmt.Errorf("%w: line %d: unknown section %q", errProfile, n, line)
			}
			if seen[section] {
				return p, fmt.Errorf("%w: line %d: second [%s] section", errProfile, n, section)
			}
			seen[section] = true
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return p, fmt.Errorf("%w: line %d: expected key = value, got %q", errProfile, n, line)
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		var err error
		switch section + "." + k {
		case "interface.privatekey":
			p.PrivateKey, err = ParseKey(v)
		case "interface.address":
			p.Address, err = netip.ParsePrefix(v)
			if err != nil {
				var a netip.Addr
				if a, err = netip.ParseAddr(v); err == nil {
					p.Address = netip.PrefixFrom(a, a.BitLen())
				}
			}
		case "interface.mtu":
			p.MTU, err = strconv.Atoi(v)
		case "peer.publickey":
			p.PeerPublicKey, err = ParsePublicKey(v)
		case "peer.endpoint":
			_, _, err = net.SplitHostPort(v)
			p.Endpoint = v
		case "peer.allowedips":
			for _, s := range strings.Split(v, ",") {
				var a netip.Prefix
				if a, err = netip.ParsePrefix(strings.TrimSpace(s)); err != nil {
					break
				}
				p.AllowedIPs = append(p.AllowedIPs, a)
			}
		case "peer.persistentkeepalive":
			p.PersistentKeepalive, err = strconv.Atoi(v)
		default:
			return p, fmt.Errorf("%w: line %d: unsupported key %q in [%s]", errProfile, n, k, section)
		}
		if err != nil {
			return p, fmt.Errorf("%w: line %d: %s: %v", errProfile, n, k, err)
		}
	}
	if err := sc.Err(); err != nil {
		return p, fmt.Errorf("%w: %v", errProfile, err)
	}
	switch {
	case p.PrivateKey == (Key{}):
		return p, fmt.Errorf("%w: [Interface] has no PrivateKey", errProfile)
	case !p.Address.IsValid():
		return p, fmt.Errorf("%w: [Interface] has no Address", errProfile)
	case p.PeerPublicKey == (Key{}):
		return p, fmt.Errorf("%w: [Peer] has no PublicKey", errProfile)
	case p.Endpoint == "":
		return p, fmt.Errorf("%w: [Peer] has no Endpoint", errProfile)
	case len(p.AllowedIPs) == 0:
		return p, fmt.Errorf("%w: [Peer] has no AllowedIPs", errProfile)
	}
	return p, nil
}

// NewClient starts a netstack WireGuard client from a profile, as the
// official apps would: it resolves the Endpoint once, at start. Used by the
// demo and by tests; a home computer uses the real WireGuard app.
func NewClient(ctx context.Context, p Profile, logger *slog.Logger) (*Device, error) {
	host, port, err := net.SplitHostPort(p.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("tunnel: client endpoint %q: %w", p.Endpoint, err)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return nil, fmt.Errorf("tunnel: client: resolve endpoint %q: %w", host, err)
	}
	pn, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("tunnel: client endpoint port %q: %w", port, err)
	}
	d, err := NewNetstack(Config{PrivateKey: p.PrivateKey, Addresses: []netip.Addr{p.Address.Addr()}, MTU: p.MTU}, logger)
	if err != nil {
		return nil, err
	}
	err = d.AddPeer(Peer{
		PublicKey:           p.PeerPublicKey,
		AllowedIPs:          p.AllowedIPs,
		Endpoint:            netip.AddrPortFrom(addrs[0].Unmap(), uint16(pn)),
		PersistentKeepalive: time.Duration(p.PersistentKeepalive) * time.Second,
	})
	if err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}
