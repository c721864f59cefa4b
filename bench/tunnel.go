package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/licgate/licgate/gateway"
	"github.com/licgate/licgate/tunnel"
)

// bareTunnel is two wireguard-go netstack peers with the server listening
// directly on the far peer's stack: the cost of WireGuard alone.
func bareTunnel() (dial func() (net.Conn, error), stop func(), err error) {
	sk, _ := tunnel.GenerateKey()
	ck, _ := tunnel.GenerateKey()
	srvAddr, cliAddr := netip.MustParseAddr("10.45.0.1"), netip.MustParseAddr("10.45.0.2")
	srv, err := tunnel.NewNetstack(tunnel.Config{PrivateKey: sk, Addresses: []netip.Addr{srvAddr}}, nil)
	if err != nil {
		return nil, nil, err
	}
	srv.AddPeer(tunnel.Peer{PublicKey: ck.PublicKey(), AllowedIPs: []netip.Prefix{netip.PrefixFrom(cliAddr, 32)}})
	ln, err := srv.ListenTCP(netip.AddrPortFrom(srvAddr, 22350))
	if err != nil {
		return nil, nil, err
	}
	go serve(ln)
	cli, err := tunnel.NewClient(context.Background(), tunnel.Profile{
		PrivateKey: ck, Address: netip.PrefixFrom(cliAddr, 32), PeerPublicKey: sk.PublicKey(),
		Endpoint: net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.ListenPort())), AllowedIPs: []netip.Prefix{netip.PrefixFrom(srvAddr, 32)},
	}, nil)
	if err != nil {
		return nil, nil, err
	}
	dial = func() (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return cli.DialContext(ctx, "tcp", "10.45.0.1:22350")
	}
	return dial, func() { cli.Close(); ln.Close(); srv.Close() }, nil
}

// licgateTunnel is a whole gateway in this process (netstack, policy,
// sessions, audit) with one enrolled client, proxying to upstream.
func licgateTunnel(upstream string, opts ...gateway.Option) (dial func() (net.Conn, error), g *gateway.Gateway, stop func(), err error) {
	dir, err := os.MkdirTemp("", "lgbench")
	if err != nil {
		return nil, nil, nil, err
	}
	cfg, err := gateway.ParseConfig("bench.yaml", []byte(fmt.Sprintf(`state_dir: %s
log_level: error
tunnel:
  listen_port: 0
  endpoint: 127.0.0.1
services:
  - name: codemeter
    port: 22350
    upstream: %s
policy:
  groups:
    staff: [bench]
  rules:
    - {action: deny, who: [user:nobody]}
    - {action: allow, who: [group:staff], hours: ["daily 00:00-24:00"], max_sessions_per_user: 100000}
`, dir, upstream)))
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
	cli, err := tunnel.NewClient(ctx, *res.Profile, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	dial = func() (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return cli.DialContext(ctx, "tcp", "10.44.0.1:22350")
	}
	return dial, g, func() { cli.Close(); g.Close(); os.RemoveAll(dir) }, nil
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
	return float64(n) / time.Since(start).Seconds(), medianDur(ttfb), nil
}
