package realpath

import "net/netip"

// forwardRow is licgate in tun mode with tunnel.forward (issue 27): each
// flow is decided on its first packet, then the office's kernel forwards
// it, as on the routed rows; source: tunnel, because the LAN routes the
// tunnel subnets back via the office (so no masquerade, as routed).
func forwardRow(tag string) *rpGateway {
	return &rpGateway{name: "licgate forward", short: "lf", kind: "licgate", subnet: netip.MustParsePrefix("10.51.0.0/24"), port: 51827,
		scale: true, sourceTunnel: true, yaml: "  mode: tun\n  forward: true\n  interface: brf" + tag + "\n"}
}
