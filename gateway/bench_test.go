package gateway_test

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/proxy"
	"github.com/licgate/licgate/session"

	"github.com/licgate/licgate/gateway/gatewaytest"
	"github.com/licgate/licgate/internal/testnet"
)

// echoServer echoes everything; sinkServer discards and, at EOF, answers
// with one byte so the writer knows everything arrived.
func echoServer(b *testing.B, sink bool) net.Listener {
	return testnet.Serve(b, func(c net.Conn) {
		if sink {
			io.Copy(io.Discard, c)
			c.Write([]byte{1})
			return
		}
		io.Copy(c, c)
	})
}

// loopbackProxy runs proxy.Proxy on a loopback listener: the proxy alone.
func loopbackProxy(b *testing.B, upstream string) string {
	p := &proxy.Proxy{
		Service:  "bench",
		Upstream: upstream,
		Identify: func(a netip.Addr) (*session.Identity, bool) {
			return &session.Identity{DeviceID: 1, Device: "d", User: "u", Address: a}, true
		},
		Authorize: func(*session.Identity, string, acl.Counts) (session.Admission, error) {
			return session.Admission{}, nil
		},
		Sessions: session.NewSessionTable(),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go p.ServeTCP(ln)
	b.Cleanup(func() { p.Close() })
	return ln.Addr().String()
}

type dialFunc func() (net.Conn, error)

func paths(b *testing.B, sink bool) map[string]dialFunc {
	srv := echoServer(b, sink)
	prox := loopbackProxy(b, srv.Addr().String())
	h := gatewaytest.New(b, gatewaytest.Upstream(srv.Addr().String()))
	c := h.AddDevice("bench", "pc")
	return map[string]dialFunc{
		"direct":       func() (net.Conn, error) { return net.Dial("tcp", srv.Addr().String()) },
		"proxy":        func() (net.Conn, error) { return net.Dial("tcp", prox) },
		"tunnel+proxy": func() (net.Conn, error) { return c.Dial("tcp", 10*time.Second) },
	}
}

// BenchmarkRoundTrip64 is a 64-byte request answered by 64 bytes: the
// shape of a license heartbeat.
func BenchmarkRoundTrip64(b *testing.B) {
	ps := paths(b, false)
	for _, name := range []string{"direct", "proxy", "tunnel+proxy"} {
		b.Run(name, func(b *testing.B) {
			c, err := ps[name]()
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := make([]byte, 64)
			resp := make([]byte, 64)
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

// BenchmarkBulk sends 1 MiB per operation one way.
func BenchmarkBulk(b *testing.B) {
	ps := paths(b, true)
	for _, name := range []string{"direct", "proxy", "tunnel+proxy"} {
		b.Run(name, func(b *testing.B) {
			c, err := ps[name]()
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			chunk := make([]byte, 1<<20)
			b.SetBytes(int64(len(chunk)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
			c.(interface{ CloseWrite() error }).CloseWrite()
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkConnect is a new session per operation through tunnel and proxy.
func BenchmarkConnect(b *testing.B) {
	srv := echoServer(b, false)
	h := gatewaytest.New(b, gatewaytest.Upstream(srv.Addr().String()))
	c := h.AddDevice("bench", "pc")
	buf := make([]byte, 1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		conn, err := c.Dial("tcp", 10*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		conn.Write(buf)
		if _, err := io.ReadFull(conn, buf); err != nil {
			b.Fatal(err)
		}
		conn.Close()
	}
	b.StopTimer()
}
