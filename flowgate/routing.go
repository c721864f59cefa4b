package flowgate

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
)

// Routing is what the host needs for forwarded flows: IPv4 forwarding
// on, and for the services whose license server should see the gateway
// (source: gateway) a masquerade rule. The LAN's route back to the
// tunnel subnet (source: tunnel) is the administrator's (docs/transparent.md).
type Routing struct {
	// Subnet is the tunnel subnet; Interface the TUN interface.
	Subnet    netip.Prefix
	Interface string
	// Masquerade are the upstreams (protocol "tcp" or "udp" and address)
	// whose flows leave with the gateway's address.
	Masquerade []Upstream
}

// Upstream is one forwarded destination.
type Upstream struct {
	Proto string
	Addr  netip.AddrPort
}

// Table is the nftables table licgate owns in forwarding mode.
const Table = "licgate-forward"

// Script is the nft script that installs r's masquerade rules
// (replacing what a previous run left), for `nft -f -`; empty when no
// service masquerades.
func (r Routing) Script() string {
	if len(r.Masquerade) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "add table ip %s\ndelete table ip %s\ntable ip %s {\n", Table, Table, Table)
	b.WriteString("\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n")
	for _, u := range r.Masquerade {
		fmt.Fprintf(&b, "\t\tiifname %q ip saddr %s ip daddr %s %s dport %d masquerade\n",
			r.Interface, r.Subnet, u.Addr.Addr(), u.Proto, u.Addr.Port())
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// Commands is what an administrator runs by hand for r (licgate runs
// the same through Setup).
func (r Routing) Commands() string {
	s := "sysctl -w net.ipv4.ip_forward=1\n"
	if sc := r.Script(); sc != "" {
		s += "nft -f - <<'EOF'\n" + sc + "EOF\n"
	}
	return s
}

// RemoveCommands undo Commands (leave ip_forward on if the host
// forwards for other reasons).
func (r Routing) RemoveCommands() string {
	s := "sysctl -w net.ipv4.ip_forward=0   # only if nothing else on this host forwards\n"
	if len(r.Masquerade) > 0 {
		s += "nft delete table ip " + Table + "\n"
	}
	return s
}

// Start is Setup with the outcome logged, and on failure the commands an
// administrator can run instead in the error. teardown logs its errors.
func (r Routing) Start(log *slog.Logger) (teardown func() error, err error) {
	down, err := r.Setup()
	if err != nil {
		return nil, fmt.Errorf("%w (or set it up by hand:\n%s)", err, r.Commands())
	}
	log.Info("forwarding: each flow is decided on its first packet, the kernel forwards it",
		slog.String("interface", r.Interface), slog.Int("masqueraded", len(r.Masquerade)))
	return func() error {
		err := down()
		if err != nil {
			log.Error("removing the forwarding setup", slog.String("err", err.Error()))
		}
		return err
	}, nil
}
