package portmap_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/licgate/licgate/ddns"
	"github.com/licgate/licgate/internal/netnstest"
	"github.com/licgate/licgate/portmap"
	"github.com/licgate/licgate/portmap/portmaptest"
)

const wgPort = 51820

// Tests against Debian's miniupnpd in a router namespace: the proof of a
// mapping is a datagram sent from the internet namespace to the router's
// WAN address that arrives at a listener in the office namespace.

type testLog struct{ t testing.TB }

func (w testLog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newMapper(t *testing.T, r *portmaptest.Router, protocols ...string) *portmap.Mapper {
	m := portmap.New(portmap.Config{
		Protocols:     protocols,
		Gateway:       portmaptest.LAN,
		InternalPort:  wgPort,
		Lease:         time.Minute,
		CheckInterval: 300 * time.Millisecond,
		Timeout:       time.Second,
		Dial:          portmaptest.Dial(r.Office),
		ListenPacket:  portmaptest.ListenPacket(r.Office),
	}, logger(t))
	t.Cleanup(func() { m.Close() })
	return m
}

// officeListener receives datagrams on wgPort in the office namespace.
func officeListener(t *testing.T, r *portmaptest.Router) <-chan string {
	var c net.PacketConn
	err := portmaptest.In(r.Office, func() (err error) {
		c, err = net.ListenPacket("udp4", fmt.Sprintf(":%d", wgPort))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 100)
	done := make(chan struct{})
	t.Cleanup(func() { c.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			select {
			case got <- string(buf[:n]):
			default:
			}
		}
	}()
	return got
}

// arrives sends probes from the internet to WAN:port until one arrives in
// the office, or the deadline passes. Each probe comes from a new socket:
// a new flow, which the router's connection tracking has not seen (an old
// flow keeps the NAT decision of its first packet).
func arrives(t *testing.T, r *portmaptest.Router, got <-chan string, port int, within time.Duration) bool {
	t.Helper()
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(portmaptest.WAN, uint16(port)))
	deadline := time.After(within)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for seq := 0; ; seq++ {
		var c net.PacketConn
		err := portmaptest.In(r.Internet, func() (err error) {
			c, err = net.ListenPacket("udp4", ":0")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.WriteTo([]byte(fmt.Sprintf("probe-%d", seq)), to)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
			return true
		case <-tick.C:
		case <-deadline:
			return false
		}
	}
}

// waitStatus polls Status until ok or the deadline.
func waitStatus(t *testing.T, m *portmap.Mapper, within time.Duration, what string, ok func(portmap.Status) bool) portmap.Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := m.Status()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; status %+v", what, st)
		}
		time.Sleep(20 * time.Millisecond) // polling a status snapshot
	}
}

func TestRouter(t *testing.T) {
	for _, tc := range []struct {
		name      string
		protocols []string
		want      string
	}{
		{"pcp", []string{"pcp"}, "pcp"},
		{"natpmp", []string{"natpmp"}, "natpmp"},
		{"upnp", []string{"upnp"}, "upnp"},
		{"auto", nil, "pcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			r := portmaptest.New(t, portmaptest.Options{PXP: true, ACL: portmaptest.UsualACL})
			got := officeListener(t, r)
			if arrives(t, r, got, wgPort, 300*time.Millisecond) {
				t.Fatal("a datagram got through before any mapping: the router forwards everything")
			}

			m := newMapper(t, r, tc.protocols...)
			ran := make(chan error, 1)
			go func() { ran <- m.Run(context.Background()) }()
			st := waitStatus(t, m, 15*time.Second, "mapped", func(s portmap.Status) bool { return s.State == "mapped" })
			if st.Protocol != tc.want || st.ExternalAddress != portmaptest.Public || st.ExternalPort != wgPort || st.NotPublic {
				t.Fatalf("status %+v, want %s mapping of %s:%d", st, tc.want, portmaptest.Public, wgPort)
			}
			if tc.want != "upnp" && time.Until(st.LeaseExpiry) < 30*time.Second {
				t.Errorf("lease expiry %s, want about a minute from now", st.LeaseExpiry)
			}
			if !arrives(t, r, got, st.ExternalPort, 5*time.Second) {
				t.Fatalf("mapped, but a datagram to %s:%d does not reach the office\nrules:\n%s\nminiupnpd:\n%s", portmaptest.WAN, st.ExternalPort, r.Rules(), r.Log())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if a, err := m.ExternalAddr(ctx); err != nil || a != portmaptest.Public {
				t.Errorf("ExternalAddr = %v, %v; want %s", a, err, portmaptest.Public)
			}
			if a, err := m.Detect(ctx, ddns.IPv4); err != nil || a != portmaptest.Public {
				t.Errorf("Detect = %v, %v; want %s", a, err, portmaptest.Public)
			}
			if _, err := m.Detect(ctx, ddns.IPv6); err == nil {
				t.Error("Detect(IPv6) gave no error")
			}

			// Let the router's epoch grow past the RFC's 2s jitter
			// allowance, then reboot it: it forgets the mapping and its
			// epoch starts again from 0; the mapper must notice and map again.
			waitStatus(t, m, 15*time.Second, "renewals", func(s portmap.Status) bool { return time.Since(s.MappedSince) > 4*time.Second })
			r.Reboot()
			waitStatus(t, m, 15*time.Second, "re-created", func(s portmap.Status) bool { return s.Recreated >= 1 && s.State == "mapped" })
			if !arrives(t, r, got, wgPort, 5*time.Second) {
				t.Fatalf("after the router's reboot the mapping was not re-created\nrules:\n%s\nminiupnpd:\n%s", r.Rules(), r.Log())
			}

			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if err := <-ran; err != nil {
				t.Errorf("Run = %v", err)
			}
			if !errors.Is(m.Close(), net.ErrClosed) {
				t.Error("second Close did not return net.ErrClosed")
			}
			if m.Status().State != "closed" || m.Status().LastError != "" && strings.Contains(m.Status().LastError, "remove") {
				t.Errorf("status after Close: %+v", m.Status())
			}
			if rules := r.Rules(); strings.Contains(rules, fmt.Sprint(wgPort)) {
				t.Fatalf("Close left the forwarding rule:\n%s", rules)
			}
			// The rule is gone; a datagram must not arrive either.
			if arrives(t, r, got, wgPort, 500*time.Millisecond) {
				t.Fatal("a datagram still gets through after Close")
			}
			if err := m.Run(context.Background()); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Run after Close = %v", err)
			}
		})
	}
}

// Debian's miniupnpd as installed (NAT-PMP/PCP off, UPnP on, no rules):
// the default order falls back to UPnP.
func TestRouterFallsBackToUPnP(t *testing.T) {
	leakCheck(t)
	r := portmaptest.New(t, portmaptest.Options{})
	got := officeListener(t, r)
	m := newMapper(t, r)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- m.Run(ctx) }()
	st := waitStatus(t, m, 20*time.Second, "mapped", func(s portmap.Status) bool { return s.State == "mapped" })
	if st.Protocol != "upnp" {
		t.Fatalf("protocol %q, want upnp", st.Protocol)
	}
	if !arrives(t, r, got, st.ExternalPort, 5*time.Second) {
		t.Fatal("datagram does not arrive")
	}
	// The mapper is one voice in the DDNS quorum.
	d := &ddns.Detector{Sources: []ddns.Source{m, fixedSource{portmaptest.Public}}}
	if a, res, err := d.Detect(ctx, ddns.IPv4); err != nil || a != portmaptest.Public {
		t.Errorf("quorum with the router: %v %v %v", a, res, err)
	}
	// Ending Run's context removes the mapping too.
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.Rules(), fmt.Sprint(wgPort)) {
		t.Fatalf("mapping left after Run ended:\n%s", r.Rules())
	}
	m.Close()
}

// No daemon on the router: a clear error naming the router and every
// protocol, wrapping ErrNoRouter.
func TestRouterSilent(t *testing.T) {
	leakCheck(t)
	netnstest.Require(t, "nft", "miniupnpd")
	r := portmaptest.New(t, portmaptest.Options{})
	r.Stop()
	m := newMapper(t, r)
	ran := make(chan error, 1)
	go func() { ran <- m.Run(context.Background()) }()
	st := waitStatus(t, m, 15*time.Second, "failing", func(s portmap.Status) bool { return s.State == "failing" })
	want := "portmap: router at 192.168.1.1 answered neither PCP, NAT-PMP nor UPnP: pcp: "
	if !strings.HasPrefix(st.LastError, want) || !strings.Contains(st.LastError, "upnp: ") {
		t.Errorf("LastError %q, want prefix %q", st.LastError, want)
	}
	m.Close()
	<-ran
}

// leakCheck runs after every cleanup of t (cleanups run last-in first-out).
func leakCheck(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

type fixedSource struct{ a netip.Addr }

func (f fixedSource) Name() string { return "fixed" }
func (f fixedSource) Detect(context.Context, ddns.Family) (netip.Addr, error) {
	return f.a, nil
}

// Someone deletes the forwarding on the router (no reboot, same epoch):
// the periodic check (UPnP: GetSpecificPortMappingEntry; PCP, NAT-PMP: the
// renewal) puts it back.
func TestRouterMappingDeleted(t *testing.T) {
	for _, proto := range []string{"pcp", "natpmp", "upnp"} {
		t.Run(proto, func(t *testing.T) {
			leakCheck(t)
			r := portmaptest.New(t, portmaptest.Options{PXP: true})
			got := officeListener(t, r)
			m := newMapper(t, r, proto)
			go m.Run(context.Background())
			waitStatus(t, m, 15*time.Second, "mapped", func(s portmap.Status) bool { return s.State == "mapped" })
			r.Forget()
			if proto == "upnp" {
				waitStatus(t, m, 10*time.Second, "re-created", func(s portmap.Status) bool { return s.Recreated >= 1 })
			}
			if !arrives(t, r, got, wgPort, 10*time.Second) {
				t.Fatalf("the deleted mapping did not come back\nrules:\n%s", r.Rules())
			}
		})
	}
}

// miniupnpd multicasts a NAT-PMP/PCP announcement when it starts: the
// mapper re-maps at once, long before its next periodic check.
func TestRouterAnnouncement(t *testing.T) {
	for _, proto := range []string{"pcp", "natpmp"} {
		t.Run(proto, func(t *testing.T) {
			leakCheck(t)
			r := portmaptest.New(t, portmaptest.Options{PXP: true})
			got := officeListener(t, r)
			m := portmap.New(portmap.Config{
				Protocols: []string{proto}, Gateway: portmaptest.LAN, InternalPort: wgPort,
				Lease: 10 * time.Minute, CheckInterval: 10 * time.Minute, Timeout: time.Second,
				Dial: portmaptest.Dial(r.Office), ListenPacket: portmaptest.ListenPacket(r.Office),
			}, logger(t))
			t.Cleanup(func() { m.Close() })
			go m.Run(context.Background())
			waitStatus(t, m, 15*time.Second, "mapped", func(s portmap.Status) bool { return s.State == "mapped" })
			r.Reboot()
			if !arrives(t, r, got, wgPort, 5*time.Second) {
				t.Fatalf("no re-mapping after the router's announcement\nminiupnpd:\n%s", r.Log())
			}
		})
	}
}
