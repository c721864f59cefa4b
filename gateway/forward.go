package gateway

import (
	"fmt"
	"log/slog"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/flowgate"
)

// forwardWrap is, with tunnel.forward, the packet gate wireguard-go's
// TUN device is wrapped with (package flowgate), the host set up for
// it until Close; nil otherwise. g's identity manager and admission
// controller are made after the tunnel: no peer sends before SyncPeers.
func (g *Gateway) forwardWrap(cfg *config.Config) (func(raw, filtered tun.Device) tun.Device, error) {
	if !cfg.Tunnel.Forward {
		return nil, nil
	}
	gate, err := flowgate.New(flowgate.Config{Gateway: cfg.GatewayAddr(), Ports: cfg.ForwardPorts(), Subnet: cfg.SubnetPrefix(),
		Interface: cfg.Tunnel.Interface, Admission: g, Sessions: g.sessions, OnDeny: g.denied,
		Logger: g.log.With(slog.String("component", "flowgate"))})
	if err != nil {
		return nil, fmt.Errorf("tunnel.forward: %w", err)
	}
	teardown, err := gate.Routing().Start(g.log) // ip_forward; masquerade for source: gateway
	if err != nil {
		return nil, fmt.Errorf("tunnel.forward: %w", err)
	}
	g.onClose(func() { teardown() })
	return gate.Wrap, nil
}
