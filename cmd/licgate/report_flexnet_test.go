package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/gateway/gatewaytest"
	"github.com/licgate/licgate/internal/licsim"
)

// licgate report --by product through a FlexNet-like server (licsim's
// two-port mode): each checkout is a lookup on lmgrd and a connection to
// the vendor daemon, and a status query is one more lookup. The report by
// service counts every connection; the report by product only the two
// vendor-daemon seats: peak 2 of the cap of 2, none never used.
func TestReportByProductFlexNet(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	m := &licsim.Manager{Kind: "flexnet", Vendor: "adskflex", Feature: "cad", Seats: 3}
	if err := m.Listen("127.0.0.1:0", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, mp, _ := net.SplitHostPort(m.MasterAddr().String())
	_, vp, _ := net.SplitHostPort(m.VendorAddr().String())
	h := gatewaytest.New(t,
		gatewaytest.ServiceYAML(fmt.Sprintf("  - name: cad\n    type: flexnet\n    upstream: 127.0.0.1\n    port: %s\n    daemons: [{name: adskflex, port: %s}]\n", mp, vp)),
		gatewaytest.Policy("policy:\n  services:\n    cad: {max_sessions: 2}\n  rules:\n    - {action: allow, who: [\"*\"]}\n"))
	master := net.JoinHostPort(h.Config.Tunnel.Address, mp)
	var held []*licsim.Client
	for _, d := range [][2]string{{"alice", "laptop"}, {"bob", "desk"}} {
		c := h.AddDevice(d[0], d[1])
		dial := func(network, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			return c.Dev.DialContext(ctx, network, addr)
		}
		lc, err := licsim.Checkout(dial, master, "adskflex", d[0]+"@"+d[1])
		if err != nil {
			t.Fatalf("checkout %s: %v", d[0], err)
		}
		held = append(held, lc)
		if _, err := licsim.FetchStatus(dial, master); err != nil {
			t.Fatalf("status through the gateway: %v", err)
		}
	}
	if !m.Server.WaitInUse(2, 5*time.Second) {
		t.Fatal("two seats not held at the server")
	}
	for _, lc := range held {
		lc.Close()
	}
	h.WaitSessions(0, 5*time.Second)
	h.GW.SyncAudit()
	sock := "-socket=" + h.Config.Socket
	out, code := cli(t, "report", "--from", "1d", "--by", "service", "--format", "csv", sock)
	if code != 0 || !strings.Contains(out, "\ncad,6,") { // 2 lookups, 2 status queries, 2 seats
		t.Fatalf("by service: %d %s", code, out)
	}
	out, code = cli(t, "report", "--from", "1d", "--by", "product", "--format", "csv", sock)
	// product,seats,peak,at_limit_hours,never_used,seat_hours,sessions,users
	if code != 0 || !strings.Contains(out, "\ncad,2,2,") || !strings.Contains(out, ",2,2\n") {
		t.Fatalf("by product: %d %s", code, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "cad,") {
			f := strings.Split(l, ",")
			if f[4] != "0" || f[6] != "2" || f[7] != "2" {
				t.Fatalf("cad row %q: want 0 never used, 2 seat sessions, 2 users", l)
			}
		}
	}
}
