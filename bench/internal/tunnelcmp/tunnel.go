package tunnelcmp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/licgate/licgate/bench/internal/benchkit"
	"github.com/licgate/licgate/config"

	"github.com/licgate/licgate/gateway"
	"github.com/licgate/licgate/tunnel"
)

// bareTunnel is two stock wireguard-go netstack peers with the server
// listening directly on the far peer's stack: the cost of WireGuard alone.
func bareTunnel() (dial func() (net.Conn, error), stop func(), err error) {
	sk, _ := tunnel.GenerateKey()
	ck, _ := tunnel.GenerateKey()
	srvAddr, cliAddr := netip.MustParseAddr("10.45.0.1"), netip.MustParseAddr("10.45.0.2")
	srv, err := newStockPeer(sk, srvAddr, ck.PublicKey(), cliAddr, "")
	if err != nil {
		return nil, nil, err
	}
	ln, err := srv.tnet.ListenTCPAddrPort(netip.AddrPortFrom(srvAddr, 22350))
	if err != nil {
		return nil, nil, err
	}
	go benchkit.Serve(ln)
	cli, err := newStockPeer(ck, cliAddr, sk.PublicKey(), srvAddr, srv.endpoint())
	if err != nil {
		return nil, nil, err
	}
	return cli.dial("10.45.0.1:22350"), func() { cli.dev.Close(); ln.Close(); srv.dev.Close() }, nil
}

// licgateTunnel is a whole gateway in this process (netstack, policy,
// sessions, audit) with one enrolled client (a stock wireguard-go netstack
// peer), proxying to upstream. ackDelay is tunnel.ack_delay ("" for the
// default).
func licgateTunnel(upstream, ackDelay string, opts ...gateway.Option) (dial func() (net.Conn, error), g *gateway.Gateway, stop func(), err error) {
	dir, err := os.MkdirTemp("", "lgbench")
	if err != nil {
		return nil, nil, nil, err
	}
	cfg, err := config.Parse("bench.yaml", []byte(gatewayYAML(dir, upstream, ackDelay)))
	if err != nil {
		return nil, nil, nil, err
	}
	g = gateway.New(cfg, slog.New(slog.DiscardHandler), opts...)
	if err := g.Start(context.Background()); err != nil {
		return nil, nil, nil, err
	}
	ctx := context.Background()
	g.AddUser(ctx, "bench", "")
	res, err := g.AddDevice(ctx, "bench", "pc", "")
	if err != nil {
		return nil, nil, nil, err
	}
	prof := res.Profile
	cli, err := newStockPeer(prof.PrivateKey, prof.Address.Addr(), prof.PeerPublicKey, netip.MustParseAddr("10.44.0.1"), prof.Endpoint)
	if err != nil {
		return nil, nil, nil, err
	}
	return cli.dial("10.44.0.1:22350"), g, func() { cli.dev.Close(); g.Close(); os.RemoveAll(dir) }, nil
}

// gatewayYAML is the in-process gateway's configuration: state in dir,
// one service proxying to upstream, and tunnel.ack_delay set to ackDelay
// unless it is "" (the default).
func gatewayYAML(dir, upstream, ackDelay string) string {
	ack := ""
	if ackDelay != "" {
		ack = fmt.Sprintf("  ack_delay: %q\n", ackDelay)
	}
	return fmt.Sprintf(`state_dir: %s
log_level: error
tunnel:
  listen_port: 0
  endpoint: 127.0.0.1
%sservices:
  - name: codemeter
    port: 22350
    upstream: %s
policy:
  groups:
    staff: [bench]
  rules:
    - {action: deny, who: [user:nobody]}
    - {action: allow, who: [group:staff], hours: ["daily 00:00-24:00"], max_sessions_per_user: 100000}
`, dir, ack, upstream)
}

// connectRate opens n sessions one after another (connect, one request,
// the first byte of the answer, close) and returns sessions per second and
// the median time to first byte.
func connectRate(dial func() (net.Conn, error), n int) (float64, time.Duration, error) {
	ttfb := make([]time.Duration, 0, n)
	start := time.Now()
	buf := make([]byte, 256)
	req := make([]byte, 65)
	req[0] = 'P'
	for i := 0; i < n; i++ {
		t0 := time.Now()
		c, err := dial()
		if err != nil {
			return 0, 0, err
		}
		if _, err := c.Write(req); err != nil {
			return 0, 0, err
		}
		if _, err := c.Read(buf[:1]); err != nil {
			return 0, 0, err
		}
		ttfb = append(ttfb, time.Since(t0))
		c.Close()
	}
	return float64(n) / time.Since(start).Seconds(), benchkit.MedianDur(ttfb), nil
}
