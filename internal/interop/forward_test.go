package interop

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/session"
	"github.com/licgate/licgate/store"
)

// forwardTunnel is tun mode with forwarding (issue 27).
func forwardTunnel(iface string) string {
	return fmt.Sprintf("tunnel:\n  mode: tun\n  forward: true\n  interface: %s\n  listen_port: 51820\n  endpoint: 10.99.0.1\n", iface)
}

// TestForwardMode: with tunnel.forward, licgate decides each connection
// on its first packet and the office's kernel forwards it to the license
// server on the LAN (wg-quick clients in namespaces, licsim on the LAN):
// the server sees each device's tunnel address; sessions are listed;
// caps and rules refuse with a reset before anything reaches the server;
// an admin's cut, a policy reload and a revoke reset both ends and free
// the seat; the audit records sessions and refusals.
func TestForwardMode(t *testing.T) {
	sl := newSrcLab(t, forwardTunnel(tunName("isrcf")), "tunnel", true, nil)
	if v := strings.TrimSpace(sl.office.Run("cat", "/proc/sys/net/ipv4/ip_forward")); v != "1" {
		t.Fatalf("ip_forward in the office: %q", v)
	}
	if rules := sl.office.Run("ip", "-4", "rule", "show"); strings.Contains(rules, "lookup 1044") {
		t.Errorf("forwarding installed the transparent sockets' routing:\n%s", rules)
	}
	alice := sl.addHome("alice", "laptop")
	bob := sl.addHome("bob", "pc")
	carol := sl.addHome("carol", "pc")
	mallory := sl.addHome("mallory", "pc")

	ca, ra, sa := sl.takeSeat(alice)
	cb, rb, sb := sl.takeSeat(bob)
	cc, rc, sc := sl.takeSeat(carol)
	for _, x := range []struct {
		h  *srcHome
		sc *seenConn
	}{{alice, sa}, {bob, sb}, {carol, sc}} {
		if x.sc.remote.Addr() != x.h.addr {
			t.Errorf("the license server saw %s's connection from %s, want its tunnel address %s", x.h, x.sc.remote.Addr(), x.h.addr)
		}
	}
	// The connection was forwarded, not proxied: flowgate admitted it.
	if err := poll(func() error {
		if n := strings.Count(sl.logs.String(), "mode=forward"); n < 3 {
			return fmt.Errorf("%d forwarded session starts in the log", n)
		}
		return nil
	}); err != nil {
		t.Fatalf("%v:\n%s", err, sl.logs.String())
	}
	for i := range 50 {
		fmt.Fprintf(ca, "PING %d\n", i)
		if ans, err := ra.ReadString('\n'); err != nil || ans != fmt.Sprintf("PONG %d\n", i) {
			t.Fatalf("heartbeat %d through the forwarded connection: %q %v", i, ans, err)
		}
	}

	// UDP discovery is forwarded too, answered to the device's address.
	if ans, err := alice.discover(); err != nil || !strings.HasPrefix(ans, "LICSIM name=lan inuse=3/3 to="+alice.addr.String()+":") {
		t.Errorf("discovery through the forwarded flow: %q %v", ans, err)
	}

	// Sessions: listed with each device's tunnel address.
	var ss []session.SessionInfo
	if err := sl.get("/api/v1/sessions", &ss); err != nil {
		t.Fatal(err)
	}
	ids := map[string]uint64{}
	for _, s := range ss {
		if s.Proto == "tcp" {
			ids[s.User] = s.ID
			if !strings.HasPrefix(s.Client, map[string]string{"alice": alice.addr.String(), "bob": bob.addr.String(), "carol": carol.addr.String()}[s.User]+":") {
				t.Errorf("session %+v: client is not the device's tunnel address", s)
			}
			if s.User == "alice" && s.BytesUp == 0 {
				t.Errorf("alice's session counted no bytes: %+v", s)
			}
		}
	}
	if len(ids) != 3 {
		t.Fatalf("sessions: %+v", ss)
	}

	// Caps and rules: a reset answers the SYN; the server never sees it.
	n := len(sl.seen.accepted())
	for _, h := range []*srcHome{alice, mallory} {
		c, err := h.dial("tcp", "10.44.0.1:22350", srcTimeout)
		if err == nil {
			c.Close()
			t.Fatalf("%s: connection admitted, want refused", h)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("%s: refused with %v, want a reset (connection refused)", h, err)
		}
	}
	if got := len(sl.seen.accepted()) - n; got != 0 {
		t.Errorf("the refused connections reached the license server %d times", got)
	}

	// An admin's cut resets both ends.
	sl.cli("sessions", "cut", strconv.FormatUint(ids["carol"], 10))
	expectReset(t, "cut", cc, rc)
	waitClosed(t, "cut", sc)

	// A policy reload that bans bob cuts his forwarded session.
	cfgPath := filepath.Join(sl.dir, "licgate.yaml")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	banned := strings.Replace(string(data), "who: [user:mallory]", "who: [user:mallory, user:bob]", 1)
	if banned == string(data) {
		t.Fatal("policy to edit not found")
	}
	if err := os.WriteFile(cfgPath, []byte(banned), 0o600); err != nil {
		t.Fatal(err)
	}
	sl.cli("policy", "reload")
	expectReset(t, "policy reload", cb, rb)
	waitClosed(t, "policy reload", sb)

	// Revoke: the license server's end is reset and the seat freed.
	if out := sl.cli("device", "revoke", "alice", "laptop"); !strings.Contains(out, "live session(s) cut") {
		t.Fatalf("revoke: %s", out)
	}
	waitClosed(t, "revoke", sa)
	expectReset(t, "revoke", ca, ra)
	if !sl.srv.WaitInUse(0, srcTimeout) {
		t.Fatalf("seats in use after the cuts: %d", sl.srv.InUse())
	}
	if err := poll(func() error {
		var ss []session.SessionInfo
		if err := sl.get("/api/v1/sessions", &ss); err != nil {
			return err
		}
		if len(ss) != 0 {
			return fmt.Errorf("sessions left: %+v", ss)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}

	// Audit: the forwarded sessions and the refusals.
	if err := poll(func() error {
		var rep audit.Report
		if err := sl.get("/api/v1/report?by=user", &rep); err != nil {
			return err
		}
		keys := map[string]int{}
		for _, r := range rep.Rows {
			keys[r.Key] = r.Sessions
		}
		if keys["alice"] < 1 || keys["bob"] < 1 || keys["carol"] < 1 {
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
		var capped, ban bool
		for _, d := range ds {
			capped = capped || d.User == "alice" && d.Proto == "tcp" && strings.Contains(d.Reason, "session cap")
			ban = ban || d.User == "mallory" && d.Proto == "tcp"
		}
		if !capped || !ban {
			return fmt.Errorf("denials (want alice's cap and mallory's ban): %+v", ds)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// expectReset waits for the gateway to reset c: the read fails with
// ECONNRESET (not a clean close, not a timeout).
func expectReset(t *testing.T, what string, c net.Conn, r *bufio.Reader) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(srcTimeout))
	_, err := r.ReadString('\n')
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("%s: the client's read ended with %v, want a reset", what, err)
	}
}

// TestForwardModeMasquerade: with source: gateway, licgate masquerades
// the forwarded flows (nftables), so the license server sees the
// gateway's LAN address and the LAN needs no route; revoke still resets
// the server's end and frees the seat.
func TestForwardModeMasquerade(t *testing.T) {
	sl := newSrcLab(t, forwardTunnel(tunName("isrcm")), "gateway", false, nil)
	if rules := sl.office.Run("nft", "list", "table", "ip", "licgate-forward"); !strings.Contains(rules, "masquerade") {
		t.Fatalf("no masquerade rule:\n%s", rules)
	}
	alice := sl.addHome("alice", "laptop")
	ca, ra, sa := sl.takeSeat(alice)
	if sa.remote.Addr().String() != gwLAN {
		t.Errorf("the license server saw %s, want the gateway's %s", sa.remote.Addr(), gwLAN)
	}
	if ans, err := alice.discover(); err != nil || !strings.HasPrefix(ans, "LICSIM name=lan inuse=1/3 to="+gwLAN+":") {
		t.Errorf("discovery through the masqueraded flow: %q %v", ans, err)
	}
	fmt.Fprintf(ca, "PING 1\n")
	if ans, err := ra.ReadString('\n'); err != nil || ans != "PONG 1\n" {
		t.Fatalf("heartbeat: %q %v", ans, err)
	}
	sl.cli("device", "revoke", "alice", "laptop")
	waitClosed(t, "revoke", sa)
	expectReset(t, "revoke", ca, ra)
	if !sl.srv.WaitInUse(0, srcTimeout) {
		t.Fatalf("seat not freed: %d in use", sl.srv.InUse())
	}
}

// TestTransparentSourceForward: the source-address suite (what the
// server sees, sessions, caps, rules, UDP discovery from two devices,
// revoke, audit) in forwarding mode, with source: tunnel and with
// source: gateway (masquerade).
func TestTransparentSourceForward(t *testing.T) {
	for _, source := range []string{"tunnel", "gateway"} {
		t.Run(source, func(t *testing.T) {
			runSourceSuite(t, forwardTunnel(tunName("isrcf")), source, nil)
		})
	}
}
