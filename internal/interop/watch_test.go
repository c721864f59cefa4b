package interop

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/licgate/licgate/ddns"
	"github.com/licgate/licgate/internal/netnstest"
)

// TestInterfaceWatch: an address appearing on an interface (a router's
// PPPoE link getting its new public address) signals the DDNS manager at
// once, through netlink.
func TestInterfaceWatch(t *testing.T) {
	netnstest.Require(t)
	ns := netnstest.New(t, "watch")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ch <-chan struct{}
	ns.Do(func() { ch = ddns.WatchInterfaces(ctx, slog.New(slog.DiscardHandler)) })
	if ch == nil {
		t.Fatal("netlink watch unavailable")
	}
	select {
	case <-ch:
		t.Fatal("signal before any change")
	case <-time.After(200 * time.Millisecond):
	}
	ns.Run("ip", "link", "add", "wan0", "type", "veth", "peer", "name", "wan1") // no dummy module on CI kernels
	ns.Run("ip", "addr", "add", "203.0.113.9/24", "dev", "wan0")
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no signal after an address was added")
	}
	// Drain, then removal signals too.
	for len(ch) > 0 {
		<-ch
	}
	ns.Run("ip", "addr", "del", "203.0.113.9/24", "dev", "wan0")
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no signal after an address was removed")
	}
}
