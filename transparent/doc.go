// Package transparent owns licgate's "source: tunnel" option: upstream
// connections to the license server that carry the home device's own
// tunnel address (10.44.0.23) as their source instead of the gateway's
// LAN address, so the license server's own logs and access lists see one
// address per device.
//
// It works like HAProxy's "source 0.0.0.0 usesrc clientip" and Envoy's
// original_src filter, on Linux only: the socket gets IP_TRANSPARENT (and
// IP_FREEBIND) before it binds to the foreign address, which needs
// CAP_NET_ADMIN (or CAP_NET_RAW). Replies to 10.44.0.0/24 must then reach
// this host and be delivered locally; two things make that happen:
//
//   - the LAN: the license server (or the LAN router) routes the tunnel
//     subnet via the gateway's LAN address. CheckReturnPath tests that and
//     names the missing route.
//   - this host: policy routing that Setup installs and its teardown
//     removes (Commands prints the same as ip(8) commands). A rule sends
//     packets to the tunnel subnet that arrive from outside (not locally
//     generated, not from the tunnel interface) to a table holding
//     "local <subnet> dev lo", so the kernel hands them to the transparent
//     socket. No netfilter is needed, and the same rules work in all three
//     tunnel modes (netstack, tun, kernel).
//
// On other systems Setup, Remove, CheckReturnPath, Available and the
// dialer return ErrUnsupported; Commands and Validate work everywhere.
//
// Typical usage:
//
//	r := transparent.Routing{Subnet: netip.MustParsePrefix("10.44.0.0/24")}
//	teardown, err := transparent.Setup(r)
//	if err != nil {
//		return err // errors.Is(err, transparent.ErrNeedNetAdmin) without privileges
//	}
//	defer teardown()
//	if err := transparent.CheckReturnPath(ctx, r, netip.Addr{}, "192.168.1.10:22350"); err != nil {
//		log.Print(err) // a *ReturnPathError names the route the LAN needs
//	}
//	d := &transparent.Dialer{Timeout: 5 * time.Second}
//	up, err := d.DialFrom(ctx, deviceAddr, "tcp", "192.168.1.10:22350")
package transparent
