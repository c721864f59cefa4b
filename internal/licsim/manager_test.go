package licsim

import (
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/licgate/licgate/licmgr"
)

// checkLeaks fails t if goroutines it started outlive its cleanups. Call
// it first, so its check runs last.
func checkLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

func startManager(t *testing.T, kind string) *Manager {
	t.Helper()
	m := &Manager{Kind: kind, Vendor: "adskflex", Feature: "ACD", Seats: 3}
	if err := m.Listen("127.0.0.1:0", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// A FlexNet-like and an RLM-like manager: the master answers with the
// vendor port and closes; seats are held on the vendor port; the master's
// status, parsed by licmgr, names who holds them.
func TestManagerTwoPorts(t *testing.T) {
	checkLeaks(t)
	for _, kind := range []string{"flexnet", "rlm"} {
		t.Run(kind, func(t *testing.T) {
			m := startManager(t, kind)
			master := m.MasterAddr().String()
			_, vport, _ := net.SplitHostPort(m.VendorAddr().String())

			// The master holds nothing: the lookup connection is closed by the server.
			c, err := net.Dial("tcp", master)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, "HELLO adskflex\n")
			ans, err := io.ReadAll(c)
			if err != nil || string(ans) != "VENDOR adskflex PORT "+vport+"\n" {
				t.Fatalf("lookup answer %q, %v (want the vendor port, then EOF)", ans, err)
			}
			c.Close()
			if _, err := Lookup(net.Dial, master, "MLM"); !errors.Is(err, ErrNoVendor) {
				t.Errorf("unknown vendor: %v", err)
			}

			var held []*Client
			for _, who := range []string{"alice@laptop", "bob@pc", "carol@mac"} {
				lc, err := Checkout(net.Dial, master, "adskflex", who)
				if err != nil {
					t.Fatalf("%s: %v", who, err)
				}
				held = append(held, lc)
			}
			if _, err := Checkout(net.Dial, master, "adskflex", "dave@x"); err == nil || !strings.Contains(err.Error(), "BUSY") {
				t.Fatalf("fourth checkout: %v, want BUSY", err)
			}
			if m.Server.InUse() != 3 {
				t.Fatalf("in use %d", m.Server.InUse())
			}

			status, err := FetchStatus(net.Dial, master)
			if err != nil {
				t.Fatal(err)
			}
			var u *licmgr.Usage
			if kind == "rlm" {
				u, err = licmgr.ParseRlmstat(strings.NewReader(status), time.Now())
			} else {
				u, err = licmgr.ParseLmstat(strings.NewReader(status), time.Now())
			}
			if err != nil {
				t.Fatalf("parse:\n%s\n%v", status, err)
			}
			f, ok := u.Feature("ACD")
			if !ok || f.Total != 3 || f.InUse != 3 || f.Held() != 3 {
				t.Fatalf("status says %+v\n%s", f, status)
			}
			var who []string
			for _, h := range f.Holders {
				who = append(who, h.User+"@"+h.Host)
			}
			if !slices.Equal(who, []string{"alice@laptop", "bob@pc", "carol@mac"}) {
				t.Errorf("holders %v", who)
			}
			if kind == "rlm" && (len(u.Daemons) != 1 || u.Daemons[0].Name != "adskflex" || u.Daemons[0].Port == 0) {
				t.Errorf("ISV table %+v", u.Daemons)
			}

			held[1].Close()
			if !m.Server.WaitInUse(2, 5*time.Second) {
				t.Fatal("bob's seat was not released")
			}
			status, _ = FetchStatus(net.Dial, master)
			if strings.Contains(status, "bob") {
				t.Errorf("bob still listed after release:\n%s", status)
			}
		})
	}
}
