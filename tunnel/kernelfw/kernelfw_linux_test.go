package kernelfw

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/tunnel"

	"github.com/licgate/licgate/internal/netnstest"
)

// TestKernelFirewall: kernel mode on a wireguard-go interface (driven
// through wgctrl as a kernel one would be) lets a peer reach every port
// of the host, until KernelFirewall's rules are applied; then only the
// service is reachable.
func TestScript(t *testing.T) {
	netnstest.Require(t, "nft", "wireguard-go")
	ns := netnstest.New(t, "tunk")
	iface := fmt.Sprintf("lgtk%d", os.Getpid()%100000)
	if out, err := ns.TryRun([]string{"WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1"}, "wireguard-go", iface); err != nil {
		t.Fatalf("wireguard-go: %v\n%s", err, out)
	}
	t.Cleanup(func() { os.Remove("/var/run/wireguard/" + iface + ".sock") })
	ns.Run("ip", "addr", "add", "10.44.0.1/24", "dev", iface)
	ns.Run("ip", "link", "set", iface, "up")
	ns.Run("ip", "addr", "add", "10.55.0.1/32", "dev", "lo")
	gwKey, _ := tunnel.GenerateKey()
	clKey, _ := tunnel.GenerateKey()
	gwAddr, clAddr, hostAddr := netip.MustParseAddr("10.44.0.1"), netip.MustParseAddr("10.44.0.2"), netip.MustParseAddr("10.55.0.1")
	var (
		kd *tunnel.KernelDevice
		cl *tunnel.Device
	)
	ns.Do(func() {
		var err error
		kd, err = tunnel.NewKernel(tunnel.Config{PrivateKey: gwKey, Addresses: []netip.Addr{gwAddr}}, iface, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { kd.Close() })
		for _, a := range []string{"10.44.0.1:22350", "10.44.0.1:2222", "10.55.0.1:22350"} {
			ln, err := net.Listen("tcp", a)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			go serveHello(ln)
		}
		cl, err = tunnel.NewNetstack(tunnel.Config{PrivateKey: clKey, Addresses: []netip.Addr{clAddr}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
	})
	if err := kd.AddPeer(tunnel.Peer{PublicKey: clKey.PublicKey(), AllowedIPs: []netip.Prefix{netip.PrefixFrom(clAddr, 32)}}); err != nil {
		t.Fatal(err)
	}
	err := cl.AddPeer(tunnel.Peer{PublicKey: gwKey.PublicKey(), Endpoint: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(kd.ListenPort())),
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
		_, err = io.ReadAll(c)
		return err
	}
	// Open without a firewall: the problem the rules solve.
	for _, a := range []string{"10.44.0.1:22350", "10.44.0.1:2222", "10.55.0.1:22350"} {
		if err := dial(a, 10*time.Second); err != nil {
			t.Fatalf("%s before the firewall: %v", a, err)
		}
	}
	script, err := Script(iface, []netip.Addr{gwAddr}, []tunnel.Service{{Network: "tcp", Port: 22350}, {Network: "udp", Port: 22350}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // applying twice replaces the table
		c := ns.Cmd("nft", "-f", "-")
		c.Stdin = strings.NewReader(script)
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("nft -f: %v\n%s\n%s", err, out, script)
		}
	}
	if err := dial("10.44.0.1:22350", 10*time.Second); err != nil {
		t.Fatalf("the service behind the firewall: %v", err)
	}
	for _, a := range []string{"10.44.0.1:2222", "10.55.0.1:22350"} {
		if err := dial(a, 2*time.Second); err == nil {
			t.Errorf("%s reachable through the firewall", a)
		}
	}
}

func TestKernelFirewallArgs(t *testing.T) {
	a := []netip.Addr{netip.MustParseAddr("10.44.0.1")}
	for _, tc := range []struct {
		iface string
		addrs []netip.Addr
		svc   []tunnel.Service
	}{
		{`wg0" accept`, a, nil},
		{"", a, nil},
		{"wg0", nil, nil},
		{"wg0", a, []tunnel.Service{{Network: "icmp", Port: 1}}},
	} {
		if s, err := Script(tc.iface, tc.addrs, tc.svc); err == nil {
			t.Errorf("Script(%q, %v, %v) accepted:\n%s", tc.iface, tc.addrs, tc.svc, s)
		}
	}
}

// serveHello answers every connection with "hello".
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
