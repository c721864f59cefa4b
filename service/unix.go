//go:build !windows

package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
)

func programDataKnownFolder() string { return "" }

// UnderServiceManager reports whether the process was started by the Windows
// Service Control Manager; always false elsewhere (systemd, launchd and rc.d
// run `licgate serve` as a plain process and stop it with SIGTERM).
func UnderServiceManager() bool { return false }

// RunWindows runs serve under the Windows Service Control Manager; elsewhere
// it returns ErrUnsupported.
func RunWindows(name string, serve func(ctx context.Context) error) error {
	return ErrUnsupported
}

// NewEventLogHandler returns a slog.Handler that writes to the Windows Event
// Log; elsewhere it returns ErrUnsupported (journald, launchd's log file and
// syslog take the process's stderr).
func NewEventLogHandler(source string, opts *slog.HandlerOptions) (slog.Handler, io.Closer, error) {
	return nil, nil, ErrUnsupported
}

// SecureStateDir creates dir (and its parents) and makes it private to its
// owner: mode 0700 on Unix; on Windows an ACL for SYSTEM and Administrators
// only. licgate serve calls it at start, so a directory made by hand is fixed
// too.
func SecureStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("service: state dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("service: state dir: %w", err)
	}
	return nil
}
