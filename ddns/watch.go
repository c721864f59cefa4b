package ddns

import (
	"context"
	"log/slog"
	"net/netip"

	"github.com/licgate/licgate/ddns/ifwatch"
)

// WatchInterfaces signals when an interface that can carry the public
// address changes (Linux netlink, debounced by the Manager; nil
// elsewhere, where the regular poll notices changes). See package ifwatch.
func WatchInterfaces(ctx context.Context, log *slog.Logger) <-chan struct{} {
	return ifwatch.Watch(ctx, log, func(a netip.Addr) bool { return CheckPublic(a) == nil })
}
