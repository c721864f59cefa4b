package interop

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/session"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/transparent"
)

// Issue 16 end to end: with services[].source: tunnel the license server
// on the LAN sees each home device's own tunnel address, and everything
// licgate does in front of it (policy, caps, sessions, revoke, audit, UDP
// discovery) works as with source: gateway. The same suite runs in the
// three tunnel modes, and once with source: gateway for contrast.

// TestTransparentSourceNetstack: source: tunnel with the netstack tunnel.
func TestTransparentSourceNetstack(t *testing.T) {
	runSourceSuite(t, netstackTunnel, "tunnel", nil)
}

// TestTransparentSourceTUN: source: tunnel with licgate's own TUN
// interface (the main table routes the tunnel subnet to it; licgate's
// rules send only the LAN's replies to the transparent sockets).
func TestTransparentSourceTUN(t *testing.T) {
	iface := tunName("isrct")
	runSourceSuite(t, fmt.Sprintf("tunnel:\n  mode: tun\n  interface: %s\n  listen_port: 51820\n  endpoint: 10.99.0.1\n", iface), "tunnel", nil)
}

// TestTransparentSourceKernel: source: tunnel on an existing WireGuard
// interface driven through wgctrl (wireguard-go's, as in
// TestKernelModeViaUAPI: CI kernels have no WireGuard module).
func TestTransparentSourceKernel(t *testing.T) {
	iface := tunName("isrck")
	runSourceSuite(t, fmt.Sprintf("tunnel:\n  mode: kernel\n  interface: %s\n  listen_port: 51820\n  endpoint: 10.99.0.1\n", iface), "tunnel", func(l *lab) {
		if out, err := l.office.TryRun(wgEnv, "wireguard-go", iface); err != nil {
			t.Fatalf("wireguard-go: %v\n%s", err, out)
		}
		t.Cleanup(func() { os.Remove("/var/run/wireguard/" + iface + ".sock") })
		l.office.Run("ip", "addr", "add", "10.44.0.1/24", "dev", iface)
		l.office.Run("ip", "link", "set", iface, "up")
	})
}

// TestTransparentSourceGatewayContrast: the same topology and suite with
// source: gateway (the default): the license server sees the gateway's
// LAN address for every device, and the LAN needs no route.
func TestTransparentSourceGatewayContrast(t *testing.T) {
	runSourceSuite(t, netstackTunnel, "gateway", nil)
}

// runSourceSuite starts the source lab with three home devices (alice,
// bob, and the banned mallory) and checks what the license server sees
// and that licgate's controls hold.
func runSourceSuite(t *testing.T, tunnelYAML, source string, before func(l *lab)) {
	sl := newSrcLab(t, tunnelYAML, source, source == "tunnel", before)
	if source == "tunnel" && !strings.Contains(tunnelYAML, "forward: true") { // forwarding needs no transparent sockets
		// licgate installed its policy routing in the office and says
		// what the LAN needs.
		rules := sl.office.Run("ip", "-4", "rule", "show")
		if !strings.Contains(rules, "to "+tunnelNet+" lookup 1044") {
			t.Fatalf("policy routing not installed:\n%s", rules)
		}
		// In tun and kernel mode the gateway's own packets and those from
		// the tunnel interface keep the main table.
		if m := regexp.MustCompile(`interface: (\S+)`).FindStringSubmatch(tunnelYAML); m != nil && !strings.Contains(rules, "to "+tunnelNet+" iif "+m[1]+" lookup main") {
			t.Errorf("no exception for the tunnel interface %s:\n%s", m[1], rules)
		}
		if local := sl.office.Run("ip", "-4", "route", "show", "table", "1044"); !strings.Contains(local, "local "+tunnelNet+" dev lo") {
			t.Fatalf("table 1044: %q", local)
		}
		if logs := sl.logs.String(); !strings.Contains(logs, "a route for "+tunnelNet+" via this host") {
			t.Errorf("the start log does not say what the LAN needs:\n%s", logs)
		}
	}
	alice := sl.addHome("alice", "laptop")
	bob := sl.addHome("bob", "pc")
	mallory := sl.addHome("mallory", "pc")
	if alice.addr == bob.addr {
		t.Fatalf("two devices with one tunnel address %s", alice.addr)
	}
	// want is the address the license server should see for h.
	want := func(h *srcHome) netip.Addr {
		if source == "tunnel" {
			return h.addr
		}
		return netip.MustParseAddr(gwLAN)
	}

	// Each device's seat arrives from its own address.
	helloStart := time.Now()
	ca, ra, sa := sl.takeSeat(alice)
	hello := time.Since(helloStart)
	cb, _, sb := sl.takeSeat(bob)
	for _, x := range []struct {
		h  *srcHome
		sc *seenConn
	}{{alice, sa}, {bob, sb}} {
		if x.sc.remote.Addr() != want(x.h) {
			t.Errorf("source %s: the license server saw %s's connection from %s, want %s", source, x.h, x.sc.remote.Addr(), want(x.h))
		}
	}
	t.Logf("source %s: license server saw alice/laptop (tunnel %s) as %s, bob/pc (tunnel %s) as %s",
		source, alice.addr, sa.remote, bob.addr, sb.remote)
	if source == "tunnel" && sa.remote.Addr() == sb.remote.Addr() {
		t.Errorf("the license server saw both devices from %s", sa.remote.Addr())
	}
	// The session works both ways; its round trips are logged as a
	// latency row (source tunnel vs gateway, same lab).
	const pings = 200
	rtts := make([]time.Duration, 0, pings)
	ca.SetDeadline(time.Now().Add(30 * time.Second))
	for i := range pings {
		start := time.Now()
		fmt.Fprintf(ca, "PING %d\n", i)
		if ans, err := ra.ReadString('\n'); err != nil || ans != fmt.Sprintf("PONG %d\n", i) {
			t.Fatalf("heartbeat %d through the connection: %q %v", i, ans, err)
		}
		rtts = append(rtts, time.Since(start))
	}
	ca.SetDeadline(time.Time{})
	slices.Sort(rtts)
	t.Logf("latency source=%s mode=%s: connect+HELLO %s; PING round trip p50 %s p99 %s (%d)", source, tunnelMode(tunnelYAML),
		hello.Round(time.Microsecond), rtts[pings/2].Round(time.Microsecond), rtts[pings*99/100].Round(time.Microsecond), pings)

	// Sessions: licgate lists both, with each device's tunnel address as
	// the client whatever the license server sees.
	var ss []session.SessionInfo
	if err := sl.get("/api/v1/sessions", &ss); err != nil {
		t.Fatal(err)
	}
	clients := map[string]string{}
	for _, s := range ss {
		if s.Proto == "tcp" {
			clients[s.User+"/"+s.Device] = s.Client
		}
	}
	for _, h := range []*srcHome{alice, bob} {
		if c, ok := clients[h.String()]; !ok || !strings.HasPrefix(c, h.addr.String()+":") && c != h.addr.String() {
			t.Errorf("sessions: %s has client %q (want %s): %+v", h, c, h.addr, ss)
		}
	}
	if len(clients) != 2 {
		t.Errorf("sessions: %+v", ss)
	}
	if out := sl.cli("sessions"); !strings.Contains(out, "alice") || !strings.Contains(out, "bob") {
		t.Errorf("licgate sessions:\n%s", out)
	}

	// Caps: alice's second session is over max_sessions_per_user.
	nConns := len(sl.seen.accepted())
	sl.refused(alice)
	// Policy: mallory's rule denies before any upstream connection.
	sl.refused(mallory)
	if !sl.srv.WaitInUse(2, srcTimeout) {
		t.Errorf("seats in use after the refusals: %d, want 2", sl.srv.InUse())
	}
	// The cap is checked after the upstream dial: that connection may
	// reach the server, but must be closed; mallory's must not reach it.
	for _, sc := range sl.seen.accepted()[nConns:] {
		if sc.remote.Addr() == want(mallory) && source == "tunnel" {
			t.Errorf("the license server saw a connection from the denied %s", mallory)
		}
		waitClosed(t, "a refused connection", sc)
	}
	if got := len(sl.seen.accepted()) - nConns; got > 1 {
		t.Errorf("the refusals reached the license server %d times", got)
	} else {
		t.Logf("the refusals reached the license server %d time(s) (the cap is checked after the upstream dial)", got)
	}

	// UDP discovery from two devices at once: each answer is addressed to
	// what the server saw, and comes back to the device that asked.
	var wg sync.WaitGroup
	answers := map[*srcHome]string{}
	var mu sync.Mutex
	for _, h := range []*srcHome{alice, bob} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ans, err := h.discover()
			if err != nil {
				ans = err.Error()
			}
			mu.Lock()
			answers[h] = ans
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, h := range []*srcHome{alice, bob} {
		ans := answers[h]
		if !strings.HasPrefix(ans, "LICSIM name=lan inuse=2/3 to="+want(h).String()+":") {
			t.Errorf("discovery answer at %s: %q, want one addressed to %s", h, ans, want(h))
		}
		if !sl.seen.udpFrom(want(h)) {
			t.Errorf("the license server saw no UDP from %s", want(h))
		}
	}
	t.Logf("discovery: alice got %q, bob got %q", answers[alice], answers[bob])

	// Revoke alice: her home session is cut, the license server sees the
	// connection close and frees the seat; bob's session stays.
	if out := sl.cli("device", "revoke", "alice", "laptop"); !strings.Contains(out, "live session(s) cut") {
		t.Fatalf("revoke: %s", out)
	}
	expectClosed(t, ca, ra)
	waitClosed(t, "revoke", sa)
	if !sl.srv.WaitInUse(1, srcTimeout) {
		t.Fatalf("seat not freed after revoke: %d in use", sl.srv.InUse())
	}
	if isClosed(sb) {
		t.Error("revoking alice closed bob's connection")
	}
	fmt.Fprintf(cb, "PING bob\n")

	// Audit: both users' sessions and both refusals are recorded.
	if err := poll(func() error {
		var rep audit.Report
		if err := sl.get("/api/v1/report?by=user", &rep); err != nil {
			return err
		}
		keys := map[string]int{}
		for _, r := range rep.Rows {
			keys[r.Key] = r.Sessions
		}
		if keys["alice"] < 1 || keys["bob"] < 1 {
			return fmt.Errorf("report by user: %+v", rep.Rows)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	if err := poll(func() error {
		var ds []store.AuditDenialRow
		if err := sl.get("/api/v1/audit/denials", &ds); err != nil {
			return err
		}
		var capped, banned bool
		for _, d := range ds {
			capped = capped || d.User == "alice" && d.Proto == "tcp"
			banned = banned || d.User == "mallory" && d.Proto == "tcp"
		}
		if !capped || !banned {
			return fmt.Errorf("denials (want alice's cap and mallory's ban): %+v", ds)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	cb.Close()
	if !sl.srv.WaitInUse(0, srcTimeout) {
		t.Fatalf("seat not freed after bob closed: %d in use", sl.srv.InUse())
	}
}

// TestTransparentNoReturnRoute: with source: tunnel but no route for the
// tunnel subnet on the LAN, a home connection fails within the dial
// timeout (the client's connection is closed, not left hanging), the
// gateway log says the upstream dial failed, and
// transparent.CheckReturnPath (what `licgate doctor` will run) names the
// exact route the LAN needs, for Windows and Linux. Adding that one
// route is all it takes.
func TestTransparentNoReturnRoute(t *testing.T) {
	sl := newSrcLab(t, netstackTunnel, "tunnel", false, nil)
	alice := sl.addHome("alice", "laptop")

	start := time.Now()
	c, _, ans, err := alice.hello()
	if c != nil {
		c.Close()
	}
	if err == nil {
		t.Fatalf("without the return route the HELLO was answered: %q", ans)
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("without the return route the client's connection hung: %v", err)
	}
	t.Logf("without the return route the client's connection ended after %s: %v", time.Since(start).Round(time.Millisecond), err)
	if n := len(sl.seen.accepted()); n != 0 {
		t.Fatalf("the license server accepted %d connections it could not answer", n)
	}
	var logs string
	if err := poll(func() error {
		if logs = sl.logs.String(); !strings.Contains(logs, "upstream dial failed") {
			return errors.New("no dial failure logged")
		}
		return nil
	}); err != nil {
		t.Fatalf("%v:\n%s", err, logs)
	}
	// The line an admin reads when a home user says "no license" names the
	// route the LAN lacks, not only a timeout.
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "upstream dial failed") {
			t.Logf("gateway log: %s", line)
			if !strings.Contains(line, "route for "+tunnelNet) {
				t.Errorf("the dial failure does not name the missing LAN route (a route for %s): %s", tunnelNet, line)
			}
			break
		}
	}

	// What `licgate doctor` will say, from the gateway's namespace.
	r := transparent.Routing{Subnet: netip.MustParsePrefix(tunnelNet)}
	upstream := sl.srv.Addr().String()
	check := func() (err error) {
		sl.office.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			err = transparent.CheckReturnPath(ctx, r, netip.Addr{}, upstream)
		})
		return err
	}
	err = check()
	var rp *transparent.ReturnPathError
	if !errors.As(err, &rp) || !errors.Is(err, transparent.ErrNoReturnRoute) {
		t.Fatalf("CheckReturnPath without the LAN route: %v", err)
	}
	if got, want := rp.Linux(), "ip route add "+tunnelNet+" via "+gwLAN; got != want {
		t.Errorf("Linux advice %q, want %q", got, want)
	}
	if got, want := rp.Windows(), "route -p add 10.44.0.0 mask 255.255.255.0 "+gwLAN; got != want {
		t.Errorf("Windows advice %q, want %q", got, want)
	}
	t.Logf("CheckReturnPath: %v", err)

	// The one route, on the license server's side, and it works.
	sl.lan.Run("ip", "route", "add", tunnelNet, "via", gwLAN)
	if err := check(); err != nil {
		t.Fatalf("CheckReturnPath with the LAN route: %v", err)
	}
	// The probe's connection reaches the server's accept loop in its own
	// time: wait for it, so that takeSeat counts only the seat's.
	tunnelPrefix := netip.MustParsePrefix(tunnelNet)
	if !sl.seen.waitAccepted(5*time.Second, func(c *seenConn) bool {
		return tunnelPrefix.Contains(c.remote.Addr()) && c.remote.Addr() != alice.addr
	}) {
		t.Fatal("the license server never accepted CheckReturnPath's probe")
	}
	_, _, sc := sl.takeSeat(alice)
	if sc.remote.Addr() != alice.addr {
		t.Fatalf("with the route the license server saw %s, want %s", sc.remote.Addr(), alice.addr)
	}
}

// TestTransparentRoutingRemoved: licgate removes its policy routing when
// it stops, leaving the office's rules as they were.
func TestTransparentRoutingRemoved(t *testing.T) {
	sl := newSrcLab(t, netstackTunnel, "tunnel", true, nil)
	if rules := sl.office.Run("ip", "-4", "rule", "show"); !strings.Contains(rules, "lookup 1044") {
		t.Fatalf("policy routing not installed:\n%s", rules)
	}
	stopLicgate(t, sl.lab)
	if rules := sl.office.Run("ip", "-4", "rule", "show"); strings.Contains(rules, "1044") {
		t.Fatalf("policy routing left behind after stop:\n%s", rules)
	}
	if out, _ := sl.office.TryRun(nil, "ip", "-4", "route", "show", "table", "1044"); strings.TrimSpace(out) != "" {
		t.Fatalf("table 1044 left behind: %q", out)
	}
}

// stopLicgate stops the lab's licgate with SIGTERM and waits for it.
func stopLicgate(t *testing.T, l *lab) {
	t.Helper()
	l.proc.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- l.proc.Wait() }()
	select {
	case <-done:
	case <-time.After(srcTimeout):
		t.Fatal("licgate did not stop")
	}
}

// tunnelMode is the tunnel.mode in a lab's tunnel block.
func tunnelMode(tunnelYAML string) string {
	if m := regexp.MustCompile(`mode: (\S+)`).FindStringSubmatch(tunnelYAML); m != nil {
		return m[1]
	}
	return "netstack"
}
