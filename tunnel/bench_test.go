package tunnel

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkRoundTrip is a 64-byte request / 256-byte answer through two
// netstack devices over WireGuard on loopback, the server answering on
// the gateway's stack, with and without delayed ACKs on the gateway.
func BenchmarkRoundTrip(b *testing.B) {
	for _, delay := range []time.Duration{0, time.Millisecond} {
		b.Run("ack_delay="+delay.String(), func(b *testing.B) {
			gw, cl, _ := netstackPair(b, delay)
			defer gw.Close()
			defer cl.Close()
			ln, err := gw.ListenTCP(netip.MustParseAddrPort("10.44.0.1:22350"))
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			go answer(ln, 0)
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

// answer accepts one connection on ln and answers each 64-byte request
// with 256 bytes, after wait.
func answer(ln net.Listener, wait time.Duration) {
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
		time.Sleep(wait)
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}
