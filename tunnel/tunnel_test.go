package tunnel

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"go.uber.org/goleak"
)

func mustKey(t testing.TB) Key {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testProfile(t *testing.T) Profile {
	return Profile{
		PrivateKey:          mustKey(t),
		Address:             netip.MustParsePrefix("10.44.0.23/32"),
		PeerPublicKey:       mustKey(t).PublicKey(),
		Endpoint:            "office.example.com:51820",
		AllowedIPs:          []netip.Prefix{netip.MustParsePrefix("10.44.0.1/32")},
		PersistentKeepalive: 25,
	}
}

func TestProfileRoundTrip(t *testing.T) {
	p := testProfile(t)
	text := p.String()
	for _, want := range []string{"[Interface]\nPrivateKey = ", "Address = 10.44.0.23/32\n", "[Peer]\nPublicKey = ",
		"Endpoint = office.example.com:51820\n", "AllowedIPs = 10.44.0.1/32\n", "PersistentKeepalive = 25\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("profile lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "DNS") || strings.Contains(text, "0.0.0.0/0") {
		t.Errorf("profile must be split-tunnel without DNS:\n%s", text)
	}
	q, err := ParseProfile(text)
	if err != nil {
		t.Fatal(err)
	}
	if q.String() != text {
		t.Fatalf("round trip differs:\n%s\n---\n%s", text, q.String())
	}
}

func TestProfileParseErrors(t *testing.T) {
	good := testProfile(t).String()
	for _, tc := range []struct{ name, text, want string }{
		{"bad key", strings.Replace(good, "PrivateKey = ", "PrivateKey = x", 1), "line 2: privatekey"},
		{"unknown key", good + "DNS = 1.1.1.1\n", "line 10: unsupported key \"dns\""},
		{"unknown section", "[Foo]\n", "line 1: unknown section"},
		{"no equals", "[Interface]\nPrivateKey\n", "line 2: expected key = value"},
		{"missing endpoint", strings.Replace(good, "Endpoint = office.example.com:51820\n", "", 1), "no Endpoint"},
		{"bad allowed", strings.Replace(good, "10.44.0.1/32", "10.44.0.1/99", 1), "line 8: allowedips"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseProfile(tc.text)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestNetstackPair brings two netstack devices up over loopback UDP, talks
// TCP between them, reads handshake times, and removes the peer.
// netstackPair is a gateway device (10.44.0.1) and a client (10.44.0.2)
// connected over WireGuard on loopback; clKey is the client's key.
func netstackPair(tb testing.TB, ackDelay time.Duration) (gw, cl *Device, clKey Key) {
	tb.Helper()
	gwKey, clKey := mustKey(tb), mustKey(tb)
	gwAddr, clAddr := netip.MustParseAddr("10.44.0.1"), netip.MustParseAddr("10.44.0.2")
	gw, err := NewNetstack(Config{PrivateKey: gwKey, Addresses: []netip.Addr{gwAddr}, AckDelay: ackDelay}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := gw.AddPeer(Peer{PublicKey: clKey.PublicKey(), AllowedIPs: []netip.Prefix{netip.PrefixFrom(clAddr, 32)}}); err != nil {
		gw.Close()
		tb.Fatal(err)
	}
	cl, err = NewClient(context.Background(), Profile{
		PrivateKey: clKey, Address: netip.PrefixFrom(clAddr, 32), PeerPublicKey: gwKey.PublicKey(),
		Endpoint: net.JoinHostPort("127.0.0.1", strconv.Itoa(gw.ListenPort())), AllowedIPs: []netip.Prefix{netip.PrefixFrom(gwAddr, 32)},
	}, nil)
	if err != nil {
		gw.Close()
		tb.Fatal(err)
	}
	return gw, cl, clKey
}

func TestNetstackPair(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	defer goleak.VerifyNone(t, ignore)
	gw, cl, clKey := netstackPair(t, 0)
	defer gw.Close()
	defer cl.Close()
	if gw.ListenPort() == 0 {
		t.Fatal("no listen port reported")
	}
	gwAddr := netip.MustParseAddr("10.44.0.1")
	ln, err := gw.ListenTCP(netip.AddrPortFrom(gwAddr, 22350))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		// The source address seen is the client's tunnel address.
		c.Write([]byte(c.RemoteAddr().String()))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := cl.DialContext(ctx, "tcp", "10.44.0.1:22350")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	c.Close()
	if !strings.HasPrefix(string(got), "10.44.0.2:") {
		t.Fatalf("server saw source %q", got)
	}
	peers, err := gw.Peers()
	if err != nil || len(peers) != 1 {
		t.Fatalf("peers %v %v", peers, err)
	}
	if peers[0].PublicKey != clKey.PublicKey() || peers[0].LastHandshake.IsZero() || !peers[0].Endpoint.IsValid() || peers[0].RxBytes == 0 {
		t.Fatalf("peer status %+v", peers[0])
	}
	if err := gw.RemovePeer(clKey.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if peers, _ := gw.Peers(); len(peers) != 0 {
		t.Fatalf("peer still there: %+v", peers)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	if c, err := cl.DialContext(ctx2, "tcp", "10.44.0.1:22350"); err == nil {
		c.Close()
		t.Fatal("removed peer still connects")
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gw.Close(); err != net.ErrClosed {
		t.Fatalf("second close: %v", err)
	}
}

// pureBarcode tells the decoder the image is the code alone, as ours is
// (gozxing's finder-pattern detector misses a few percent of clean codes).
var pureBarcode = map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_PURE_BARCODE: true}
