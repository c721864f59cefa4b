//go:build !linux

package ifwatch

import (
	"context"
	"log/slog"
	"net/netip"
)

// WatchInterfaces is not available here: interface changes are noticed
// at the next poll.
func Watch(ctx context.Context, log *slog.Logger, public func(netip.Addr) bool) <-chan struct{} {
	return nil
}
