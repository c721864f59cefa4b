package transparent

import (
	"context"
	"errors"
	"net/netip"
	"runtime"
	"strings"
	"testing"
)

func TestCommands(t *testing.T) {
	for _, tc := range []struct {
		r    Routing
		want []string
	}{
		{Routing{Subnet: netip.MustParsePrefix("10.44.0.0/24")}, []string{
			"ip -4 rule add pref 10440 to 10.44.0.0/24 iif lo lookup main",
			"ip -4 rule add pref 10442 to 10.44.0.0/24 lookup 1044",
			"ip -4 route add local 10.44.0.0/24 dev lo table 1044",
		}},
		{Routing{Subnet: netip.MustParsePrefix("10.44.0.0/24"), TunnelInterface: "wg0"}, []string{
			"ip -4 rule add pref 10440 to 10.44.0.0/24 iif lo lookup main",
			"ip -4 rule add pref 10441 to 10.44.0.0/24 iif wg0 lookup main",
			"ip -4 rule add pref 10442 to 10.44.0.0/24 lookup 1044",
			"ip -4 route add local 10.44.0.0/24 dev lo table 1044",
		}},
		{Routing{Subnet: netip.MustParsePrefix("fd44::/64"), Table: 77, Priority: 500}, []string{
			"ip -6 rule add pref 500 to fd44::/64 iif lo lookup main",
			"ip -6 rule add pref 502 to fd44::/64 lookup 77",
			"ip -6 route add local fd44::/64 dev lo table 77",
		}},
	} {
		if got := Commands(tc.r); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("Commands(%+v) =\n%s\nwant\n%s", tc.r, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
		if got, want := len(tc.r.RemoveCommands()), len(tc.want); got != want {
			t.Errorf("RemoveCommands(%+v): %d commands, want %d", tc.r, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		r  Routing
		ok bool
	}{
		{Routing{Subnet: netip.MustParsePrefix("10.44.0.0/24")}, true},
		{Routing{Subnet: netip.MustParsePrefix("10.44.0.0/24"), TunnelInterface: "wg0", Table: 100, Priority: 100}, true},
		{Routing{Subnet: netip.MustParsePrefix("fd44::/64")}, true},
		{Routing{}, false},
		{Routing{Subnet: netip.MustParsePrefix("10.44.0.1/24")}, false},
		{Routing{Subnet: netip.MustParsePrefix("10.44.0.0/24"), Table: 254}, false},
		{Routing{Subnet: netip.MustParsePrefix("10.44.0.0/24"), Table: -1}, false},
		{Routing{Subnet: netip.MustParsePrefix("10.44.0.0/24"), Priority: 32764}, false},
		{Routing{Subnet: netip.MustParsePrefix("10.44.0.0/24"), TunnelInterface: "lo"}, false},
		{Routing{Subnet: netip.MustParsePrefix("10.44.0.0/24"), TunnelInterface: "wg0 lookup 5"}, false},
	} {
		err := tc.r.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tc.r, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadConfig) {
			t.Errorf("Validate(%+v) = %v, not ErrBadConfig", tc.r, err)
		}
	}
}

func TestReturnPathError(t *testing.T) {
	e := &ReturnPathError{Subnet: netip.MustParsePrefix("10.44.0.0/24"), Gateway: netip.MustParseAddr("192.168.1.2"),
		Upstream: "192.168.1.10:22350", Source: netip.MustParseAddr("10.44.0.23")}
	if got, want := e.Windows(), "route -p add 10.44.0.0 mask 255.255.255.0 192.168.1.2"; got != want {
		t.Errorf("Windows() = %q, want %q", got, want)
	}
	if got, want := e.Linux(), "ip route add 10.44.0.0/24 via 192.168.1.2"; got != want {
		t.Errorf("Linux() = %q, want %q", got, want)
	}
	if !errors.Is(e, ErrNoReturnRoute) || !strings.Contains(e.Error(), e.Windows()) || !strings.Contains(e.Error(), e.Linux()) {
		t.Errorf("error %q: not ErrNoReturnRoute or lacks the commands", e)
	}
	e6 := &ReturnPathError{Subnet: netip.MustParsePrefix("fd44::/64"), Gateway: netip.MustParseAddr("fd00::2")}
	if got, want := e6.Windows(), "route -p add fd44::/64 fd00::2"; got != want {
		t.Errorf("Windows() = %q, want %q", got, want)
	}
}

func TestProbeSource(t *testing.T) {
	for _, tc := range []struct{ subnet, want string }{
		{"10.44.0.0/24", "10.44.0.254"},
		{"10.44.0.0/16", "10.44.255.254"},
		{"10.44.0.0/31", "10.44.0.1"},
		{"fd44::/64", "fd44::ffff:ffff:ffff:ffff"},
	} {
		if got := probeSource(netip.MustParsePrefix(tc.subnet)); got.String() != tc.want {
			t.Errorf("probeSource(%s) = %s, want %s", tc.subnet, got, tc.want)
		}
	}
}

func TestDialFromBadArguments(t *testing.T) {
	d := &Dialer{}
	if _, err := d.DialContext(context.Background(), "tcp", "192.0.2.1:1"); !errors.Is(err, ErrBadConfig) {
		t.Errorf("dial without source: %v, want ErrBadConfig", err)
	}
	if _, err := d.DialFrom(context.Background(), netip.MustParseAddr("10.44.0.23"), "unix", "/x"); !errors.Is(err, ErrBadConfig) {
		t.Errorf("dial unix: %v, want ErrBadConfig", err)
	}
}

func TestUnsupportedElsewhere(t *testing.T) {
	if runtime.GOOS == "linux" {
		t.Skip("Linux supports it: see the namespace tests")
	}
	for name, err := range map[string]error{
		"Available": Available(),
		"Dial": func() error {
			_, err := DialFrom(netip.MustParseAddr("10.44.0.23"))(context.Background(), "tcp", "192.0.2.1:1")
			return err
		}(),
		"Setup": func() error { _, err := Setup(Routing{Subnet: netip.MustParsePrefix("10.44.0.0/24")}); return err }(),
	} {
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", name, err)
		}
	}
}
