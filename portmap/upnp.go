//go:build !licgate_omit_upnp

package portmap

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/huin/goupnp"
	"github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/huin/goupnp/soap"
)

// UPnPBuilt reports whether this build speaks UPnP IGD (not in builds
// made with the licgate_omit_upnp tag, which leave out goupnp).
const UPnPBuilt = true

// UPnP IGD: SSDP discovery (done here, so the socket is ours), the device
// description fetched with our own HTTP client (goupnp's fetch uses a
// package-level client), then goupnp's generated SOAP clients for
// WANIPConnection:2, WANIPConnection:1 and WANPPPConnection:1.

const ssdpPort = 1900

var ssdpMulticast = netip.AddrPortFrom(netip.AddrFrom4([4]byte{239, 255, 255, 250}), ssdpPort)

// wanConn is what the three IGD connection services have in common.
type wanConn interface {
	AddPortMappingCtx(ctx context.Context, remoteHost string, externalPort uint16, protocol string, internalPort uint16, internalClient string, enabled bool, description string, leaseDuration uint32) error
	DeletePortMappingCtx(ctx context.Context, remoteHost string, externalPort uint16, protocol string) error
	GetSpecificPortMappingEntryCtx(ctx context.Context, remoteHost string, externalPort uint16, protocol string) (internalPort uint16, internalClient string, enabled bool, description string, leaseDuration uint32, err error)
	GetExternalIPAddressCtx(ctx context.Context) (string, error)
}

type upnpClient struct {
	t    target
	http *http.Client

	mu       chanMutex
	conn     wanConn
	svc      string     // service type, for logs and status
	local    netip.Addr // our address as the router sees it
	lastPort uint16
}

// maxUPnPBody bounds every HTTP answer from the router (the device
// description, SOAP answers): a real IGD's are a few kilobytes.
const maxUPnPBody = 256 << 10

// errOtherHost: the router's answer pointed somewhere else.
var errOtherHost = errors.New("points to another host than the router")

func newUPnP(t target) *upnpClient {
	tr := &http.Transport{
		// Only the router: whatever URL its description or SSDP answer
		// names, no connection goes to another host (checked again in
		// describe and discover, with clearer errors).
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || ap.Addr().Unmap() != t.gw {
				return nil, fmt.Errorf("%w: upnp: refusing to connect to %s: %w %s", ErrMalformed, address, errOtherHost, t.gw)
			}
			return t.dial(ctx, network, address)
		},
		DisableKeepAlives:     true, // routers' HTTP servers are fragile
		ResponseHeaderTimeout: t.timeout,
		Proxy:                 nil, // never through a proxy from the environment
	}
	c := &http.Client{
		Transport: limitBody{tr},
		Timeout:   t.timeout,
		// A redirect would send licgate to whatever host the answer names.
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			return fmt.Errorf("%w: upnp: the router redirects to %s: not followed", ErrMalformed, req.URL.Redacted())
		},
	}
	return &upnpClient{t: t, http: c, mu: newChanMutex()}
}

// limitBody cuts every answer body at maxUPnPBody.
type limitBody struct{ rt http.RoundTripper }

func (l limitBody) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = http.MaxBytesReader(nil, resp.Body, maxUPnPBody)
	return resp, nil
}

// sameHost checks that u is plain HTTP to the router's address (any port).
func (u *upnpClient) sameHost(what string, to *url.URL) error {
	h, err := netip.ParseAddr(to.Hostname())
	if to.Scheme != "http" || err != nil || h.Unmap() != u.t.gw {
		return fmt.Errorf("%w: upnp %s %s %w %s: refused", ErrMalformed, what, to.Redacted(), errOtherHost, u.t.gw)
	}
	return nil
}

func (u *upnpClient) name() string { return "upnp" }

// discover finds the router's IGD and picks a WAN connection service.
func (u *upnpClient) discover(ctx context.Context) error {
	loc, err := u.ssdp(ctx)
	if err != nil {
		return err
	}
	root, err := u.describe(ctx, loc)
	if err != nil {
		return err
	}
	var conns []wanConn
	var types []string
	ip2, _ := internetgateway2.NewWANIPConnection2ClientsFromRootDevice(root, loc)
	for _, c := range ip2 {
		c.SOAPClient.HTTPClient = *u.http
		conns, types = append(conns, c), append(types, "WANIPConnection:2")
	}
	ip1, _ := internetgateway2.NewWANIPConnection1ClientsFromRootDevice(root, loc)
	for _, c := range ip1 {
		c.SOAPClient.HTTPClient = *u.http
		conns, types = append(conns, c), append(types, "WANIPConnection:1")
	}
	ppp, _ := internetgateway2.NewWANPPPConnection1ClientsFromRootDevice(root, loc)
	for _, c := range ppp {
		c.SOAPClient.HTTPClient = *u.http
		conns, types = append(conns, c), append(types, "WANPPPConnection:1")
	}
	if len(conns) == 0 {
		return fmt.Errorf("%w: upnp device at %s has no WANIPConnection or WANPPPConnection service", ErrUnsupported, loc)
	}
	// Every controlURL (resolved against the base) must stay on the
	// router: an absolute one to another host is refused.
	for _, c := range conns {
		if err := u.sameHost("controlURL", endpoint(c)); err != nil {
			return err
		}
	}
	// Prefer a connection that knows its external address: a router
	// with several WAN services has only one connected.
	pick := 0
	for i, c := range conns {
		if s, err := c.GetExternalIPAddressCtx(ctx); err == nil {
			if a, err := netip.ParseAddr(s); err == nil && !a.IsUnspecified() {
				pick = i
				break
			}
		}
	}
	u.conn, u.svc = conns[pick], types[pick]
	return nil
}

// endpoint is the URL a connection service's SOAP requests go to.
func endpoint(c wanConn) *url.URL {
	switch c := c.(type) {
	case *internetgateway2.WANIPConnection2:
		return &c.SOAPClient.EndpointURL
	case *internetgateway2.WANIPConnection1:
		return &c.SOAPClient.EndpointURL
	case *internetgateway2.WANPPPConnection1:
		return &c.SOAPClient.EndpointURL
	}
	return &url.URL{}
}

// ssdp sends M-SEARCH to the gateway directly and to the multicast group
// (some routers answer only one of the two), and returns the location of
// the first answer that comes from the gateway.
func (u *upnpClient) ssdp(ctx context.Context) (*url.URL, error) {
	ctx, cancel := context.WithTimeout(ctx, u.t.timeout)
	defer cancel()
	pc, err := u.t.listen(ctx, "udp4", ":0")
	if err != nil {
		return nil, fmt.Errorf("upnp discovery: %w", err)
	}
	defer pc.Close()
	stop := context.AfterFunc(ctx, func() { pc.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	gw := net.UDPAddrFromAddrPort(netip.AddrPortFrom(u.t.gw, ssdpPort))
	mc := net.UDPAddrFromAddrPort(ssdpMulticast)
	for _, st := range []string{"urn:schemas-upnp-org:device:InternetGatewayDevice:1", "urn:schemas-upnp-org:device:InternetGatewayDevice:2"} {
		msg := []byte("M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: " + st + "\r\n\r\n")
		// Unicast first: it teaches a stateful host firewall to let the
		// router's unicast answer to the multicast query through.
		if _, err := pc.WriteTo(msg, gw); err != nil {
			return nil, fmt.Errorf("upnp discovery: %w", err)
		}
		pc.WriteTo(msg, mc) // no multicast route is not fatal
	}
	buf := make([]byte, 2048)
	var others []string
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				if errors.Is(ctx.Err(), context.Canceled) {
					return nil, ctx.Err()
				}
				if len(others) > 0 {
					return nil, fmt.Errorf("%w: upnp: only other hosts answered (%s), not the gateway %s", errNoAnswer, strings.Join(others, ", "), u.t.gw)
				}
				return nil, fmt.Errorf("%w: upnp discovery got no answer within %s", errNoAnswer, u.t.timeout)
			}
			return nil, fmt.Errorf("upnp discovery: %w", err)
		}
		loc, err := parseSSDP(buf[:n])
		if err != nil {
			continue
		}
		src, _ := netip.ParseAddrPort(from.String())
		if src.Addr().Unmap() != u.t.gw {
			others = append(others, src.Addr().String())
			continue
		}
		if err := u.sameHost("SSDP location", loc); err != nil {
			// The router itself names another host: never go there.
			return nil, err
		}
		return loc, nil
	}
}

// describe fetches the root device description.
func (u *upnpClient) describe(ctx context.Context, loc *url.URL) (*goupnp.RootDevice, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := u.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("upnp description: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: upnp description %s: HTTP %s", ErrMalformed, loc, resp.Status)
	}
	root := new(goupnp.RootDevice)
	dec := xml.NewDecoder(resp.Body) // bounded by limitBody and the client's timeout
	dec.DefaultSpace = goupnp.DeviceXMLNamespace
	if err := dec.Decode(root); err != nil {
		return nil, fmt.Errorf("%w: upnp description %s: %v", ErrMalformed, loc, err)
	}
	base := loc
	if root.URLBaseStr != "" {
		// URLBase (deprecated since UDA 1.1) may only move the port: a
		// description that sends the control requests to another host
		// is refused.
		b, err := url.Parse(root.URLBaseStr)
		if err != nil {
			return nil, fmt.Errorf("%w: upnp description %s: URLBase %q: %v", ErrMalformed, loc, root.URLBaseStr, err)
		}
		if err := u.sameHost("URLBase", b); err != nil {
			return nil, err
		}
		base = b
	}
	root.SetURLBase(base)
	return root, nil
}

// upnpCode returns the UPnP error code of a SOAP fault.
func upnpCode(err error) int {
	var f *soap.SOAPFaultError
	if !errors.As(err, &f) {
		return 0
	}
	return f.Detail.UPnPError.Errorcode
}

func upnpErr(op string, err error) error {
	code := upnpCode(err)
	switch code {
	case 0:
		return fmt.Errorf("upnp %s: %w", op, err)
	case 606:
		return fmt.Errorf("%w: upnp %s: action not authorized (606)", ErrNotAuthorized, op)
	case 718:
		return fmt.Errorf("%w: upnp %s: conflict in mapping entry (718)", ErrConflict, op)
	case 401, 602:
		return fmt.Errorf("%w: upnp %s: action not implemented (%d)", ErrUnsupported, op, code)
	}
	return fmt.Errorf("%w: upnp %s: %v", ErrRouterError, op, err)
}

func (u *upnpClient) ready(ctx context.Context) error {
	if u.conn != nil {
		return nil
	}
	if err := u.discover(ctx); err != nil {
		return err
	}
	if u.local.IsValid() {
		return nil
	}
	// The internal client is our address towards the gateway.
	c, err := u.t.dial(ctx, "udp4", netip.AddrPortFrom(u.t.gw, ssdpPort).String())
	if err != nil {
		return fmt.Errorf("upnp: local address: %w", err)
	}
	defer c.Close()
	if ua, ok := c.LocalAddr().(*net.UDPAddr); ok {
		u.local, _ = netip.AddrFromSlice(ua.IP)
		u.local = u.local.Unmap()
	}
	return nil
}

func (u *upnpClient) add(ctx context.Context, ext uint16, leaseSec uint32) error {
	// RemoteHost "" is the wildcard: any peer may send to the port.
	return u.conn.AddPortMappingCtx(ctx, "", ext, u.t.upnpProto(), u.t.internalPort, u.local.String(), true, u.t.desc, leaseSec)
}

func (u *upnpClient) mapPort(ctx context.Context, lease time.Duration) (mapResult, error) {
	if err := u.mu.lock(ctx); err != nil {
		return mapResult{}, err
	}
	defer u.mu.unlock()
	if err := u.ready(ctx); err != nil {
		return mapResult{}, err
	}
	ext := u.t.externalPort
	if u.lastPort != 0 {
		ext = u.lastPort
	}
	leaseSec := uint32(lease / time.Second)
	err := u.add(ctx, ext, leaseSec)
	if c := upnpCode(err); c == 725 || c == 402 {
		// OnlyPermanentLeasesSupported (725); some routers say Invalid
		// Args (402) for any lease: ask for a permanent one, which Close
		// removes and the periodic check watches.
		leaseSec = 0
		err = u.add(ctx, ext, 0)
	}
	if upnpCode(err) == 718 {
		if ip2, ok := u.conn.(*internetgateway2.WANIPConnection2); ok {
			// Taken: IGDv2 lets the router pick a free port.
			var got uint16
			got, err = ip2.AddAnyPortMappingCtx(ctx, "", ext, u.t.upnpProto(), u.t.internalPort, u.local.String(), true, u.t.desc, leaseSec)
			if err == nil {
				ext = got
			}
		}
	}
	if err != nil {
		u.conn = nil // rediscover next time: the router may have moved
		return mapResult{}, upnpErr("AddPortMapping", err)
	}
	u.lastPort = ext
	a, err := u.extAddr(ctx)
	if err != nil {
		return mapResult{}, err
	}
	return mapResult{External: netip.AddrPortFrom(a, ext), Lease: time.Duration(leaseSec) * time.Second}, nil
}

// check asks GetSpecificPortMappingEntry whether the mapping still points
// at us (a router reboot or a user in the router's web page removes it).
func (u *upnpClient) check(ctx context.Context, _ time.Duration) (mapResult, bool, bool, error) {
	if err := u.mu.lock(ctx); err != nil {
		return mapResult{}, false, false, err
	}
	defer u.mu.unlock()
	if u.conn == nil {
		return mapResult{}, false, false, nil
	}
	port, client, enabled, _, _, err := u.conn.GetSpecificPortMappingEntryCtx(ctx, "", u.lastPort, u.t.upnpProto())
	switch code := upnpCode(err); {
	case code == 714: // NoSuchEntryInArray
		return mapResult{}, false, false, nil
	case err != nil:
		u.conn = nil
		return mapResult{}, false, false, upnpErr("GetSpecificPortMappingEntry", err)
	}
	if port != u.t.internalPort || client != u.local.String() || !enabled {
		return mapResult{}, false, false, fmt.Errorf("%w: upnp: external port %d now goes to %s:%d (enabled %v)", ErrConflict, u.lastPort, client, port, enabled)
	}
	a, err := u.extAddr(ctx)
	if err != nil {
		return mapResult{}, true, false, err
	}
	return mapResult{External: netip.AddrPortFrom(a, u.lastPort)}, true, false, nil
}

func (u *upnpClient) unmap(ctx context.Context) error {
	if err := u.mu.lock(ctx); err != nil {
		return err
	}
	defer u.mu.unlock()
	if u.lastPort == 0 {
		return nil
	}
	if err := u.ready(ctx); err != nil {
		return err
	}
	err := u.conn.DeletePortMappingCtx(ctx, "", u.lastPort, u.t.upnpProto())
	if upnpCode(err) == 714 {
		return nil
	}
	if err != nil {
		return upnpErr("DeletePortMapping", err)
	}
	return nil
}

func (u *upnpClient) extAddr(ctx context.Context) (netip.Addr, error) {
	s, err := u.conn.GetExternalIPAddressCtx(ctx)
	if err != nil {
		u.conn = nil
		return netip.Addr{}, upnpErr("GetExternalIPAddress", err)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: upnp external address %q", ErrMalformed, s)
	}
	// Some routers answer 0.0.0.0 before their WAN is up.
	if err := usableExternal(a.Unmap()); err != nil {
		return netip.Addr{}, fmt.Errorf("upnp: %w", err)
	}
	return a.Unmap(), nil
}

func (u *upnpClient) externalAddr(ctx context.Context) (netip.Addr, error) {
	if err := u.mu.lock(ctx); err != nil {
		return netip.Addr{}, err
	}
	defer u.mu.unlock()
	if err := u.ready(ctx); err != nil {
		return netip.Addr{}, err
	}
	return u.extAddr(ctx)
}

// upnpProto is the protocol name IGD wants.
func (t target) upnpProto() string {
	if t.tcp {
		return "TCP"
	}
	return "UDP"
}
