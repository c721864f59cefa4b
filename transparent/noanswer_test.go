package transparent

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
)

// A connect from a tunnel address that times out names the route the LAN
// lacks (issue 24: the gateway's "upstream dial failed" line said only
// "i/o timeout"); other failures, UDP and addresses outside the subnet keep
// the connect error alone.
func TestDialTimeoutNamesReturnRoute(t *testing.T) {
	subnet := netip.MustParsePrefix("10.44.0.0/24")
	src := netip.MustParseAddr("10.44.0.23")
	d := &Dialer{Subnet: subnet}
	timeout := &os.SyscallError{Syscall: "connect", Err: os.ErrDeadlineExceeded}
	for _, tc := range []struct {
		name    string
		d       *Dialer
		err     error
		src     netip.Addr
		network string
		want    bool
	}{
		{"timeout", d, timeout, src, "tcp", true},
		{"context deadline", d, context.DeadlineExceeded, src, "tcp4", true},
		{"refused", d, syscall.ECONNREFUSED, src, "tcp", false},
		{"udp", d, timeout, src, "udp", false},
		{"outside the subnet", d, timeout, netip.MustParseAddr("10.45.0.1"), "tcp", false},
		{"no subnet", &Dialer{}, timeout, src, "tcp", false},
	} {
		rpe := tc.d.noAnswer(tc.err, tc.src, tc.network, "license.example:22350")
		if (rpe != nil) != tc.want {
			t.Errorf("%s: noAnswer = %v, want an error: %v", tc.name, rpe, tc.want)
			continue
		}
		if rpe == nil {
			continue
		}
		if !errors.Is(rpe, ErrNoReturnRoute) || rpe.Subnet != subnet {
			t.Errorf("%s: %#v", tc.name, rpe)
		}
		if msg := rpe.Error(); !strings.Contains(msg, "route for 10.44.0.0/24") {
			t.Errorf("%s: %q does not name the route", tc.name, msg)
		}
	}
}
