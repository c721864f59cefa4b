package gateway

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/portmap"
)

// Issue 22 finding 5: enrolment and sign-in links carry the external port
// the router granted for the public listener, not the listener's own port:
// a router that grants external 443 for listener 8443 gives links without
// a port; one that refuses 443 (the usual rule) gives links with :8443.
// The router is a PCP responder on loopback.
func TestPublicURLCarriesGrantedPort(t *testing.T) {
	for _, tc := range []struct {
		name    string
		refuse  bool // refuse external port 443
		wantURL string
	}{
		{"443 granted", false, "https://203.0.113.1"},
		{"443 refused", true, "https://203.0.113.1:8443"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			router := fakePCP(t, tc.refuse)
			g := &Gateway{}
			cfg := &config.Config{}
			cfg.Public.Name, cfg.Public.Listen = "203.0.113.1", ":8443"
			g.cfg.Store(cfg)
			if u := g.publicURL(); u != "https://203.0.113.1:8443" {
				t.Fatalf("before any mapping: %s", u)
			}
			g.portmapPublic = portmap.New(portmap.Config{
				Protocols: []string{portmap.PCP}, Gateway: netip.MustParseAddr("192.0.2.1"), Network: "tcp",
				InternalPort: 8443, ExternalPort: 443, Timeout: time.Second,
				Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, network, router)
				},
				ListenPacket: func(ctx context.Context, _, _ string) (net.PacketConn, error) {
					return net.ListenPacket("udp4", "127.0.0.1:0") // no router announcements here
				},
			}, nil)
			t.Cleanup(func() { g.portmapPublic.Close() })
			go g.portmapPublic.Run(context.Background())
			deadline := time.Now().Add(10 * time.Second)
			for g.portmapPublic.Status().State != "mapped" {
				if time.Now().After(deadline) {
					t.Fatalf("not mapped: %+v", g.portmapPublic.Status())
				}
				time.Sleep(10 * time.Millisecond) // polling a status snapshot
			}
			if u := g.publicURL(); u != tc.wantURL {
				t.Errorf("links start with %s, want %s (router granted external port %d)", u, tc.wantURL, g.portmapPublic.Status().ExternalPort)
			}
		})
	}
}

// fakePCP answers PCP MAP requests on a loopback port: success for the
// suggested port, or NOT_AUTHORIZED for 443 when refuse443.
func fakePCP(t *testing.T, refuse443 bool) string {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1100)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 60 || buf[0] != 2 || buf[1] != 1 {
				continue
			}
			ans := make([]byte, 60)
			copy(ans, buf[:60])
			ans[1] = 0x81
			ext := binary.BigEndian.Uint16(buf[42:])
			if refuse443 && ext == 443 {
				ans[3] = 2 // NOT_AUTHORIZED
			}
			binary.BigEndian.PutUint32(ans[8:], 100) // epoch
			a := netip.MustParseAddr("203.0.113.1").As16()
			copy(ans[44:60], a[:])
			if strings.HasPrefix(from.String(), "127.") {
				pc.WriteTo(ans, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}
