// Package kernelfw writes the nftables rules that make kernel mode fail
// closed: in tun mode licgate's own TUN wrapper drops what a peer sends
// anywhere but the gateway's services; in kernel mode packets never pass
// through licgate, so the host's firewall must.
//
// Typical usage:
//
//	script, err := kernelfw.Script("wg0", []netip.Addr{gw}, services)
//	// nft -f - < script
package kernelfw

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/licgate/licgate/tunnel"
)

// errFirewall marks Script's argument errors.
var errFirewall = errors.New("kernelfw")

var ifaceName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)

// Script returns an nftables script (for `nft -f`) that gives
// kernel mode the filter tun mode has built in (see TUNDevice): what
// arrives on interface iface may reach addrs only, and there only the
// services, ICMP echo and the ICMP errors path MTU discovery needs;
// nothing from iface is forwarded. In kernel mode the packets never pass
// through licgate, so only the host's firewall can fail closed.
//
// The script owns one table, inet licgate_<iface>, and replaces it
// whole when applied again; base chains at priority filter - 1 drop
// without overriding anyone else's rules (an accept here does not stop
// another table's drop). Non-first IPv4 fragments to addrs are let
// through as in tun mode; without conntrack they are not reassembled
// before this table, so the ports were checked on the first fragment.
func Script(iface string, addrs []netip.Addr, services []tunnel.Service) (string, error) {
	if !ifaceName.MatchString(iface) {
		return "", fmt.Errorf("%w: %q is not an interface name", errFirewall, iface)
	}
	if len(addrs) == 0 {
		return "", fmt.Errorf("%w: no tunnel address", errFirewall)
	}
	var tcp, udp []string
	for _, s := range services {
		if s.Network != "tcp" && s.Network != "udp" {
			return "", fmt.Errorf("%w: service %s: network must be tcp or udp", errFirewall, s)
		}
		p := fmt.Sprint(s.Port)
		if s.Network == "tcp" && !slices.Contains(tcp, p) {
			tcp = append(tcp, p)
		} else if s.Network == "udp" && !slices.Contains(udp, p) {
			udp = append(udp, p)
		}
	}
	table := "licgate_" + strings.NewReplacer(".", "_", "-", "_").Replace(iface)
	in := fmt.Sprintf("iifname %q", iface)
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s\ndelete table inet %[1]s\ntable inet %[1]s {\n", table)
	b.WriteString("\tchain input {\n\t\ttype filter hook input priority filter - 1; policy accept;\n")
	for _, a := range addrs {
		ip, icmp := "ip", "icmp type { echo-request, destination-unreachable, time-exceeded }"
		if a.Is6() {
			ip, icmp = "ip6", "icmpv6 type { echo-request, destination-unreachable, packet-too-big, time-exceeded }"
		}
		if len(tcp) > 0 {
			fmt.Fprintf(&b, "\t\t%s %s daddr %s tcp dport { %s } accept\n", in, ip, a, strings.Join(tcp, ", "))
		}
		if len(udp) > 0 {
			fmt.Fprintf(&b, "\t\t%s %s daddr %s udp dport { %s } accept\n", in, ip, a, strings.Join(udp, ", "))
		}
		fmt.Fprintf(&b, "\t\t%s %s daddr %s %s accept\n", in, ip, a, icmp)
		if a.Is4() {
			fmt.Fprintf(&b, "\t\t%s ip daddr %s ip frag-off & 0x1fff != 0 accept\n", in, a)
		}
	}
	fmt.Fprintf(&b, "\t\t%s drop\n\t}\n", in)
	fmt.Fprintf(&b, "\tchain forward {\n\t\ttype filter hook forward priority filter - 1; policy accept;\n\t\t%s drop\n\t}\n}\n", in)
	return b.String(), nil
}
