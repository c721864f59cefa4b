package tunnel

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// BenchmarkRoundTrip is a 64-byte request / 256-byte answer through two
// netstack devices over WireGuard on loopback, the server answering on
// the gateway's stack, with and without delayed ACKs on the gateway.
func BenchmarkRoundTrip(b *testing.B) {
	for _, delay := range []time.Duration{0, time.Millisecond} {
		b.Run("ack_delay="+delay.String(), func(b *testing.B) {
			gwKey, _ := GenerateKey()
			clKey, _ := GenerateKey()
			gwAddr, clAddr := netip.MustParseAddr("10.44.0.1"), netip.MustParseAddr("10.44.0.2")
			gw, err := NewNetstack(Config{PrivateKey: gwKey, Addresses: []netip.Addr{gwAddr}, AckDelay: delay}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer gw.Close()
			gw.AddPeer(Peer{PublicKey: clKey.PublicKey(), AllowedIPs: []netip.Prefix{netip.PrefixFrom(clAddr, 32)}})
			cl, err := NewClient(context.Background(), Profile{
				PrivateKey: clKey, Address: netip.PrefixFrom(clAddr, 32), PeerPublicKey: gwKey.PublicKey(),
				Endpoint: net.JoinHostPort("127.0.0.1", strconv.Itoa(gw.ListenPort())), AllowedIPs: []netip.Prefix{netip.PrefixFrom(gwAddr, 32)},
			}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			ln, err := gw.ListenTCP(netip.AddrPortFrom(gwAddr, 22350))
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				req, resp := make([]byte, 64), make([]byte, 256)
				for {
					if _, err := io.ReadFull(c, req); err != nil {
						return
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
			c, err := cl.DialContext(context.Background(), "tcp", "10.44.0.1:22350")
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req, resp := make([]byte, 64), make([]byte, 256)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, resp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
