package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/admission"
	"github.com/licgate/licgate/bundle"
	"github.com/licgate/licgate/gateway"
	"github.com/licgate/licgate/gateway/gatewaytest"
	"github.com/licgate/licgate/internal/licsim"
	"github.com/licgate/licgate/internal/testnet"
	"github.com/licgate/licgate/licmgr"
)

// flexLab is a gateway fronting licsim acting as FlexNet (lmgrd and the
// adskflex vendor daemon, on loopback): service "cad" of type flexnet,
// same port numbers at the tunnel address as at the server.
type flexLab struct {
	h      *gatewaytest.Harness
	m      *licsim.Manager
	master string // lmgrd at the gateway's tunnel address
}

func newFlexLab(t *testing.T, seats int, policy, extra string) *flexLab {
	return newManagerLab(t, "flexnet", seats, policy, extra)
}

// newManagerLab is newFlexLab for kind flexnet or rlm (rlm and the
// adskflex ISV server).
func newManagerLab(t *testing.T, kind string, seats int, policy, extra string) *flexLab {
	t.Helper()
	m := &licsim.Manager{Kind: kind, Vendor: "adskflex", Feature: "cad", Seats: seats}
	if err := m.Listen("127.0.0.1:0", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	_, mp, _ := net.SplitHostPort(m.MasterAddr().String())
	_, vp, _ := net.SplitHostPort(m.VendorAddr().String())
	svc := fmt.Sprintf("  - name: cad\n    type: %s\n    upstream: 127.0.0.1\n    port: %s\n    daemons: [{name: adskflex, port: %s}]\n%s", kind, mp, vp, extra)
	status := func(ctx context.Context, kind licmgr.Kind, host string, port int) (*licmgr.Usage, error) {
		out, err := licsim.FetchStatus(net.Dial, net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return nil, err
		}
		return admission.ParseStatus(kind, []byte(out), time.Now())
	}
	h := gatewaytest.New(t, gatewaytest.ServiceYAML(svc), gatewaytest.Policy(policy), gatewaytest.Options(gateway.WithLicenseStatus(status)))
	return &flexLab{h: h, m: m, master: net.JoinHostPort(h.Config.Tunnel.Address, mp)}
}

// dialer dials through a home device's tunnel.
func dialer(c *gatewaytest.Client) func(network, addr string) (net.Conn, error) {
	return func(network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return c.Dev.DialContext(ctx, network, addr)
	}
}

const capCad2 = `policy:
  services:
    cad: {max_sessions: 2}
  rules:
    - {action: allow, who: ["*"]}
`

// TestFlexNetCapsOnVendorPort: home devices check out from a FlexNet-like
// server through the gateway (lookup on lmgrd's port, then the vendor
// daemon's port the server names, same number at the gateway); the cap
// counts the vendor daemon's connections only, lookups pass while the
// pool is full, and the refusal names who holds the seats.
func TestFlexNetCapsOnVendorPort(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	l := newFlexLab(t, 5, capCad2, "")
	alice, bob, carol := l.h.AddDevice("alice", "laptop"), l.h.AddDevice("bob", "pc"), l.h.AddDevice("carol", "mac")
	for _, c := range []*gatewaytest.Client{alice, bob} {
		lc, err := licsim.Checkout(dialer(c), l.master, "adskflex", c.User+"@"+c.Name)
		if err != nil {
			t.Fatalf("%s: checkout through the gateway: %v", c.User, err)
		}
		defer lc.Close()
	}
	if !l.m.Server.WaitInUse(2, 5*time.Second) {
		t.Fatalf("server holds %d seats, want 2", l.m.Server.InUse())
	}
	// The pool is full: lookups (lmgrd) still pass, any number of them.
	before := l.m.Lookups()
	for i := 0; i < 4; i++ {
		if _, err := licsim.Lookup(dialer(carol), l.master, "adskflex"); err != nil {
			t.Fatalf("lookup %d with the pool full: %v (lookups must not count against caps)", i, err)
		}
	}
	if got := l.m.Lookups() - before; got != 4 {
		t.Fatalf("server answered %d lookups, want 4", got)
	}
	// The third seat is refused on the vendor port.
	if lc, err := licsim.Checkout(dialer(carol), l.master, "adskflex", "carol@mac"); err == nil {
		lc.Close()
		t.Fatal("carol checked out a third seat past max_sessions: 2")
	}
	if n := l.m.Server.InUse(); n != 2 {
		t.Fatalf("server holds %d seats after the refusal, want 2", n)
	}
	var reason string
	deadline := time.Now().Add(10 * time.Second)
	for reason == "" && time.Now().Before(deadline) {
		for _, d := range denials(t, l.h) {
			if d.Service == "cad" && d.User == "carol" {
				reason = d.Reason
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{"cad: 2 of 5 in use", "alice/laptop", "bob/pc"} {
		if !strings.Contains(reason, want) {
			t.Errorf("refusal %q does not name %q", reason, want)
		}
	}
}

// TestLicensesAgreesWithServerStatus: with three home devices holding
// seats, the gateway's Licenses (licgate licenses) reports what the
// server's own lmstat says, each holder joined to its licgate device.
func TestLicensesAgreesWithServerStatus(t *testing.T) {
	for _, kind := range []string{"flexnet", "rlm"} {
		t.Run(kind, func(t *testing.T) { licensesAgree(t, kind) })
	}
}

func licensesAgree(t *testing.T, kind string) {
	gatewaytest.CheckLeaks(t)
	l := newManagerLab(t, kind, 4, gatewaytest.AllowAll, "")
	want := map[string]string{}
	for _, d := range [][2]string{{"alice", "laptop"}, {"bob", "pc"}, {"carol", "mac"}} {
		c := l.h.AddDevice(d[0], d[1])
		lc, err := licsim.Checkout(dialer(c), l.master, "adskflex", d[0]+"@"+d[1])
		if err != nil {
			t.Fatalf("%s: checkout: %v", d[0], err)
		}
		defer lc.Close()
		want[d[0]+"@"+d[1]] = d[0] + "/" + d[1]
	}
	server, err := admission.ParseStatus(licmgr.Kind(kind), []byte(l.m.Status()), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sf, _ := server.Feature("cad")
	var got admission.ServiceLicenses
	for _, sl := range l.h.GW.Licenses(context.Background()) {
		if sl.Service == "cad" {
			got = sl
		}
	}
	if got.Source != "server" || len(got.Features) != 1 {
		t.Fatalf("licenses for cad: %+v (error %q), want the server's status", got, got.Error)
	}
	f := got.Features[0]
	if f.Name != sf.Name || f.Total != sf.Total || f.InUse != sf.InUse || f.InUse != 3 || len(f.Holders) != len(sf.Holders) {
		t.Fatalf("licgate says %s %d of %d (%d holders), the server %s %d of %d (%d holders)",
			f.Name, f.InUse, f.Total, len(f.Holders), sf.Name, sf.InUse, sf.Total, len(sf.Holders))
	}
	for _, h := range f.Holders {
		if want[h.Server] == "" || h.Who() != want[h.Server] || h.Session == 0 {
			t.Errorf("holder %s joined to %q (session %d), want %q", h.Server, h.Who(), h.Session, want[h.Server])
		}
		delete(want, h.Server)
	}
	if len(want) != 0 {
		t.Errorf("holders missing from licgate's view: %v", want)
	}
	// The same seats in the product series of /metrics (licgate_product_seats_*).
	metrics, err := httpGetUnix(l.h.Config.Socket, "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		fmt.Sprintf(`licgate_product_seats_in_use{product=%q,service="cad",source="server"} %d`, sf.Name, sf.InUse),
		fmt.Sprintf(`licgate_product_seats_total{product=%q,service="cad"} %d`, sf.Name, sf.Total),
	} {
		if !strings.Contains(metrics, line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}

// TestEnrolmentBundleCarriesLicenses: a home bundle made through an
// enrolment link points the applications at the FlexNet service through
// the tunnel (LM_LICENSE_FILE and the vendor daemon's ADSKFLEX_LICENSE_FILE
// in the Linux helper), not only at CodeMeter.
func TestEnrolmentBundleCarriesLicenses(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	l := newFlexLab(t, 2, gatewaytest.AllowAll, "")
	// The harness's own untyped service comes too (generic: it names no
	// manager, so it adds nothing beside a typed one).
	var flex []bundle.License
	for _, b := range l.h.GW.Bundles() {
		if b.Kind == licmgr.FlexNet {
			flex = append(flex, b)
		}
	}
	if len(flex) != 1 || len(flex[0].Daemons) != 1 || flex[0].Daemons[0] != "adskflex" {
		t.Fatalf("bundles: %+v, want the flexnet service with its adskflex daemon", l.h.GW.Bundles())
	}
}

// TestReconnectHoldsOneSeat: a device whose seat connection went silent
// (its network dropped: the gateway's side lingers) reconnects and checks
// out again; the gateway cuts the silent one at once, upstream first, so
// the server holds one seat for the device, not two. A second
// application still talking would keep its seat (licmgr's rule tests).
func TestReconnectHoldsOneSeat(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	l := newFlexLab(t, 4, gatewaytest.AllowAll, "    reconnect_silence: 300ms\n")
	alice := l.h.AddDevice("alice", "laptop")
	first, err := licsim.Checkout(dialer(alice), l.master, "adskflex", "alice@laptop")
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	time.Sleep(400 * time.Millisecond) // the silence the rule waits for: the event under test is time passing
	second, err := licsim.Checkout(dialer(alice), l.master, "adskflex", "alice@laptop")
	if err != nil {
		t.Fatalf("reconnect checkout: %v", err)
	}
	defer second.Close()
	if !l.m.Server.WaitInUse(1, 5*time.Second) {
		t.Fatalf("server holds %d seats for one reconnected device, want 1", l.m.Server.InUse())
	}
	if _, err := second.Call("PING"); err != nil {
		t.Fatalf("the new seat's connection: %v", err)
	}
	if !l.h.WaitSessions(1, 5*time.Second) {
		t.Fatalf("gateway has %d sessions, want 1", l.h.GW.SessionCount())
	}
}

// TestLDKAdminRefusedThroughGateway: a sentinel-ldk service refuses the
// Admin Control Center's pages on its licensing port and passes the
// License Managers' requests.
func TestLDKAdminRefusedThroughGateway(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	ldk := testnet.Serve(t, func(c net.Conn) {
		line, _ := bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "ECHO "+line)
	})
	_, port, _ := net.SplitHostPort(ldk.Addr().String())
	h := gatewaytest.New(t, gatewaytest.ServiceYAML(fmt.Sprintf("  - name: ldk\n    type: sentinel-ldk\n    port: %s\n    upstream: %s\n", port, ldk.Addr())))
	c := h.AddDevice("alice", "laptop")
	at := net.JoinHostPort(h.Config.Tunnel.Address, port)
	ask := func(req string) (string, error) {
		conn, err := dialer(c)("tcp", at)
		if err != nil {
			return "", err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, req)
		return bufio.NewReader(conn).ReadString('\n')
	}
	if ans, err := ask("GET /_int_/config.html HTTP/1.1\r\nHost: x\r\n\r\n"); err == nil {
		t.Fatalf("Admin Control Center answered through the gateway: %q", ans)
	}
	if ans, err := ask("POST /hasp/request HTTP/1.1\r\n"); err != nil || ans != "ECHO POST /hasp/request HTTP/1.1\r\n" {
		t.Fatalf("licensing request: %q %v", ans, err)
	}
}
