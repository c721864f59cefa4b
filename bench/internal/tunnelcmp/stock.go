package tunnelcmp

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun/netstack"

	"github.com/licgate/licgate/tunnel"
)

// stockPeer is a WireGuard peer built exactly as wireguard-go's own
// tun/netstack example builds one: the yardstick licgate is measured
// against, and the home device in every tunnel row.
type stockPeer struct {
	dev  *device.Device
	tnet *netstack.Net
	port int
}

// newStockPeer starts a peer with one address. peer is the other side's
// public key, allowed the address allowed; endpoint, if set, is where to
// find it.
func newStockPeer(key tunnel.Key, addr netip.Addr, peer tunnel.Key, allowed netip.Addr, endpoint string) (*stockPeer, error) {
	tdev, tnet, err := netstack.CreateNetTUN([]netip.Addr{addr}, nil, 1420)
	if err != nil {
		return nil, err
	}
	dev := device.NewDevice(tdev, conn.NewDefaultBind(), device.NewLogger(device.LogLevelSilent, ""))
	cfg := fmt.Sprintf("private_key=%s\nlisten_port=0\npublic_key=%s\nallowed_ip=%s\n",
		hex.EncodeToString(key[:]), hex.EncodeToString(peer[:]), netip.PrefixFrom(allowed, allowed.BitLen()))
	if endpoint != "" {
		cfg += "endpoint=" + endpoint + "\npersistent_keepalive_interval=25\n"
	}
	if err := dev.IpcSet(cfg); err != nil {
		dev.Close()
		return nil, err
	}
	if err := dev.Up(); err != nil {
		dev.Close()
		return nil, err
	}
	st, err := dev.IpcGet()
	if err != nil {
		dev.Close()
		return nil, err
	}
	p := &stockPeer{dev: dev, tnet: tnet}
	for _, l := range strings.Split(st, "\n") {
		if v, ok := strings.CutPrefix(l, "listen_port="); ok {
			p.port, _ = strconv.Atoi(v)
		}
	}
	return p, nil
}

func (p *stockPeer) dial(addr string) func() (net.Conn, error) {
	return func() (net.Conn, error) {
		return p.tnet.DialContext(context.Background(), "tcp", addr)
	}
}

func (p *stockPeer) endpoint() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }
