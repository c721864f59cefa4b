package tunnel

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/licgate/licgate/internal/netnstest"
	"github.com/licgate/licgate/internal/testnet"
)

// serveHello answers every connection on ln with "hello" and closes it.
func serveHello(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("hello"))
		c.Close()
	}
}

// TestTUNFilter runs tun mode in a namespace of its own with a netstack
// WireGuard client in this process: the client reaches the service the
// device listens on, and nothing else on the host, until SetAllowed opens
// a port.
func TestTUNFilter(t *testing.T) {
	netnstest.Require(t)
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		testnet.Missing(t, "tun mode needs /dev/net/tun: %v", err)
	}
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // registered first: runs after the other cleanups
	ns := netnstest.New(t, "tunnel")
	ns.Run("ip", "addr", "add", "10.55.0.1/32", "dev", "lo") // another address of the gateway host
	gwKey, clKey := mustKey(t), mustKey(t)
	gwAddr, clAddr, hostAddr := netip.MustParseAddr("10.44.0.1"), netip.MustParseAddr("10.44.0.2"), netip.MustParseAddr("10.55.0.1")
	var (
		dev *TUNDevice
		cl  *Device
		lns []net.Listener
		pc  net.PacketConn
	)
	ns.Do(func() {
		var err error
		dev, err = NewTUN(Config{PrivateKey: gwKey, Addresses: []netip.Addr{gwAddr}}, "lgtun0", netip.MustParsePrefix("10.44.0.0/24"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dev.Close() })
		if err := dev.AddPeer(Peer{PublicKey: clKey.PublicKey(), AllowedIPs: []netip.Prefix{netip.PrefixFrom(clAddr, 32)}}); err != nil {
			t.Fatal(err)
		}
		ln, err := dev.ListenTCP(netip.AddrPortFrom(gwAddr, 22350)) // the service
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		if pc, err = dev.ListenUDP(netip.AddrPortFrom(gwAddr, 22350)); err != nil {
			t.Fatal(err)
		}
		for _, a := range []string{"10.44.0.1:2222", "10.55.0.1:22350"} { // not services
			ln, err := net.Listen("tcp", a)
			if err != nil {
				t.Fatal(err)
			}
			lns = append(lns, ln)
		}
		// The client's UDP socket is in the namespace too, so that it
		// reaches the gateway's on loopback.
		cl, err = NewNetstack(Config{PrivateKey: clKey, Addresses: []netip.Addr{clAddr}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
	})
	for _, ln := range lns {
		t.Cleanup(func() { ln.Close() })
		go serveHello(ln)
	}
	t.Cleanup(func() { pc.Close() })
	go func() { // UDP echo
		buf := make([]byte, 64)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	err := cl.AddPeer(Peer{PublicKey: gwKey.PublicKey(), Endpoint: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(dev.ListenPort())),
		AllowedIPs: []netip.Prefix{netip.PrefixFrom(gwAddr, 32), netip.PrefixFrom(hostAddr, 32)}})
	if err != nil {
		t.Fatal(err)
	}

	dial := func(addr string, wait time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		c, err := cl.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(wait))
		got, err := io.ReadAll(c)
		if err == nil && string(got) != "hello" {
			t.Fatalf("%s answered %q", addr, got)
		}
		return err
	}
	if err := dial("10.44.0.1:22350", 10*time.Second); err != nil {
		t.Fatalf("the service: %v", err)
	}
	u, err := cl.DialContext(context.Background(), "udp", "10.44.0.1:22350")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.Write([]byte("ping"))
	u.SetReadDeadline(time.Now().Add(5 * time.Second))
	if buf := make([]byte, 16); func() bool { n, err := u.Read(buf); return err != nil || string(buf[:n]) != "ping" }() {
		t.Fatal("no UDP echo from the service")
	}
	// A listener on port 0 opens the port the system picked.
	var ln0 net.Listener
	ns.Do(func() {
		if ln0, err = dev.ListenTCP(netip.AddrPortFrom(gwAddr, 0)); err != nil {
			t.Fatal(err)
		}
	})
	defer ln0.Close()
	go serveHello(ln0)
	if err := dial(ln0.Addr().String(), 10*time.Second); err != nil {
		t.Fatalf("listener on port 0 (%s): %v", ln0.Addr(), err)
	}
	// A dropped SYN shows as a dial that never completes: 2s is many
	// round trips on loopback.
	for _, a := range []string{"10.44.0.1:2222", "10.55.0.1:22350"} {
		if err := dial(a, 2*time.Second); err == nil {
			t.Errorf("%s reachable through the tunnel", a)
		}
	}
	if s := dev.FilterStats(); s.NotService == 0 || s.NotGateway == 0 {
		t.Errorf("drops not counted: %+v", s)
	}
	// The filter was what stopped it: opening the port lets it through.
	if err := dev.SetAllowed([]Service{{"tcp", 2222}}); err != nil {
		t.Fatal(err)
	}
	if err := dial("10.44.0.1:2222", 10*time.Second); err != nil {
		t.Fatalf("port 2222 after SetAllowed: %v", err)
	}
	// Closing the service's listener closes its port, even to a listener
	// licgate did not open through the device.
	lns[0].Close()
	var ln net.Listener
	ns.Do(func() {
		if ln, err = net.Listen("tcp", "10.44.0.1:22350"); err != nil {
			t.Fatal(err)
		}
	})
	defer ln.Close()
	go serveHello(ln)
	if err := dial("10.44.0.1:22350", 2*time.Second); err == nil {
		t.Error("closed service's port still open")
	}
	t.Logf("filter: %+v; listen port %s", dev.FilterStats(), strconv.Itoa(dev.ListenPort()))
}
