package portmap_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/portmap"
	"github.com/licgate/licgate/portmap/portmaptest"
)

// Issue 22 finding 5: with the usual rules (ports 1024-65535 only) a TCP
// mapping of port 443 is refused. The refusal is reported as one, with
// the router's answer and the fix, never as "no answer"; the router sees
// a handful of requests (waits double from CheckInterval), not one per
// CheckInterval; and the UDP mapping on the same router stays mapped and
// reachable the whole time.
func TestRouterRefusalBacksOff(t *testing.T) {
	leakCheck(t)
	r := portmaptest.New(t, portmaptest.Options{PXP: true, ACL: portmaptest.UsualACL})
	got := officeListener(t, r)
	udp := newMapper(t, r, "pcp")
	const base = 100 * time.Millisecond
	tcp := portmap.New(portmap.Config{
		Protocols: []string{"upnp"}, Gateway: portmaptest.LAN, Network: "tcp", InternalPort: 443,
		Lease: time.Minute, CheckInterval: base, Timeout: time.Second,
		Dial: portmaptest.Dial(r.Office), ListenPacket: portmaptest.ListenPacket(r.Office),
	}, logger(t))
	t.Cleanup(func() { tcp.Close() })
	go udp.Run(context.Background())
	waitStatus(t, udp, 15*time.Second, "UDP mapped", func(s portmap.Status) bool { return s.State == "mapped" })
	start := time.Now()
	go tcp.Run(context.Background())

	// 64 base intervals: the old code asked 64 times; doubling waits
	// (0, 1, 3, 7, 15, 31, 63 intervals) ask 7 times.
	for time.Since(start) < 64*base {
		if st := udp.Status(); st.State != "mapped" {
			t.Fatalf("the UDP mapping went %q while TCP was refused: %s", st.State, st.LastError)
		}
		time.Sleep(base) // sampling the UDP mapping's state during the run
	}
	asked := strings.Count(r.Log(), "#AddPortMapping")
	st := tcp.Status()
	t.Logf("TCP 443: %d AddPortMapping requests in %s; status %+v", asked, time.Since(start).Round(time.Millisecond), st)
	if asked > 8 {
		t.Errorf("the router got %d AddPortMapping requests in %s: the refusals are not backed off", asked, 64*base)
	}
	if asked == 0 {
		t.Fatalf("no AddPortMapping reached the router:\n%s", r.Log())
	}
	if st.State != "refused" || !strings.Contains(st.LastError, "refused") || !strings.Contains(st.LastError, "606") || strings.Contains(st.LastError, "no answer") {
		t.Errorf("TCP 443 status %q, last error %q: want refused with the router's answer (606)", st.State, st.LastError)
	}
	if !strings.Contains(st.Fix, ":8443") || st.Failures < 3 || !st.NextAttempt.After(time.Now()) {
		t.Errorf("TCP 443: fix %q, failures %d, next attempt %s", st.Fix, st.Failures, st.NextAttempt)
	}
	if !arrives(t, r, got, wgPort, 5*time.Second) {
		t.Fatalf("the UDP mapping does not carry datagrams any more\nrules:\n%s", r.Rules())
	}
}

// The enrolment page listens on an unprivileged port (8443) and would
// like external 443: Debian's miniupnpd as installed (no rules) grants
// that; with the usual rules it refuses 443 and the mapper maps external
// 8443 instead. Either way Status says the port that works, and a TCP
// connection from the internet to it reaches the office.
func TestRouterPreferredPortFallsBack(t *testing.T) {
	for _, tc := range []struct {
		name string
		acl  []string
		want int
	}{
		{"debian-default", nil, 443},
		{"usual-acl", portmaptest.UsualACL, 8443},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			r := portmaptest.New(t, portmaptest.Options{ACL: tc.acl})
			accepted := officeTCPListener(t, r, 8443)
			m := portmap.New(portmap.Config{
				Gateway: portmaptest.LAN, Network: "tcp", InternalPort: 8443, ExternalPort: 443,
				Lease: time.Minute, CheckInterval: 300 * time.Millisecond, Timeout: time.Second,
				Dial: portmaptest.Dial(r.Office), ListenPacket: portmaptest.ListenPacket(r.Office),
			}, logger(t))
			t.Cleanup(func() { m.Close() })
			go m.Run(context.Background())
			st := waitStatus(t, m, 20*time.Second, "mapped", func(s portmap.Status) bool { return s.State == "mapped" })
			if st.ExternalPort != tc.want || st.AskedPort != 443 || st.Network != "tcp" || st.LastError != "" {
				t.Fatalf("status %+v, want external port %d", st, tc.want)
			}
			if !tcpArrives(t, r, accepted, st.ExternalPort, 5*time.Second) {
				t.Fatalf("mapped, but a connection to %s:%d does not reach the office\nrules:\n%s", portmaptest.WAN, st.ExternalPort, r.Rules())
			}
		})
	}
}

// officeTCPListener accepts TCP connections on port in the office.
func officeTCPListener(t *testing.T, r *portmaptest.Router, port int) <-chan struct{} {
	var ln net.Listener
	err := portmaptest.In(r.Office, func() (err error) {
		ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 100)
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	return accepted
}

// tcpArrives connects from the internet to WAN:port until the office
// listener accepts a connection, or the deadline passes.
func tcpArrives(t *testing.T, r *portmaptest.Router, accepted <-chan struct{}, port int, within time.Duration) bool {
	t.Helper()
	to := netip.AddrPortFrom(portmaptest.WAN, uint16(port)).String()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		c, err := portmaptest.Dial(r.Internet)(ctx, "tcp4", to)
		cancel()
		if err == nil {
			c.Close()
			select {
			case <-accepted:
				return true
			case <-time.After(time.Second):
			}
		} else {
			time.Sleep(100 * time.Millisecond) // the next attempt after a refused connection
		}
	}
	return false
}

// The issue's own case: both mappings with the default protocol order on
// a router with NAT-PMP/PCP on and the usual rules, TCP 443 forbidden.
// miniupnpd, asked by PCP without PREFER_FAILURE or by NAT-PMP for a
// forbidden internal port, walks all 65,535 external ports through its
// rules (a log line each) and stops answering anyone for many seconds:
// the UDP renewals failed and the TCP mapping was reported as "no
// answer". Now the TCP mapping is refused at once and the router stays
// responsive: few rules checks, the UDP mapping renewed without a miss.
func TestRouterRefusalDefaultOrder(t *testing.T) {
	leakCheck(t)
	r := portmaptest.New(t, portmaptest.Options{PXP: true, ACL: portmaptest.UsualACL})
	got := officeListener(t, r)
	mk := func(network string, port int) *portmap.Mapper {
		m := portmap.New(portmap.Config{
			Gateway: portmaptest.LAN, Network: network, InternalPort: port,
			Lease: time.Minute, CheckInterval: time.Second, Timeout: 3 * time.Second,
			Dial: portmaptest.Dial(r.Office), ListenPacket: portmaptest.ListenPacket(r.Office),
		}, logger(t))
		t.Cleanup(func() { m.Close() })
		go m.Run(context.Background())
		return m
	}
	udp := mk("udp", wgPort)
	waitStatus(t, udp, 15*time.Second, "UDP mapped", func(s portmap.Status) bool { return s.State == "mapped" })
	tcp := mk("tcp", 443)
	start := time.Now()
	for time.Since(start) < 12*time.Second {
		if st := udp.Status(); st.State != "mapped" || st.Failures != 0 {
			t.Fatalf("the UDP mapping: %s, %d failed renewals (%s)", st.State, st.Failures, st.LastError)
		}
		time.Sleep(200 * time.Millisecond) // sampling the UDP mapping's state during the run
	}
	st := tcp.Status()
	checks := strings.Count(r.Log(), "port mapping rejected")
	t.Logf("TCP 443: %s, %q; miniupnpd rejected %d times", st.State, st.LastError, checks)
	if st.State != "refused" || strings.Contains(st.LastError, "no answer") {
		t.Errorf("TCP 443: %s, %q: want refused with the router's answers", st.State, st.LastError)
	}
	if checks > 50 {
		t.Errorf("miniupnpd checked %d mappings against its rules in %s: licgate made it walk the port range", checks, 12*time.Second)
	}
	if !arrives(t, r, got, wgPort, 5*time.Second) {
		t.Fatal("the UDP mapping does not carry datagrams any more")
	}
}
