//go:build !linux

package ddns

import (
	"context"
	"log/slog"
)

// WatchInterfaces is not available here: interface changes are noticed
// at the next poll.
func WatchInterfaces(ctx context.Context, log *slog.Logger) <-chan struct{} { return nil }
