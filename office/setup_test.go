package office

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/licgate/licgate/adminapi"
)

// TestWaitDaemonHonoursContext: waiting for a daemon that never answers
// ends when the context does, not when the wait's own deadline passes.
func TestWaitDaemonHonoursContext(t *testing.T) {
	c := adminapi.NewClient(filepath.Join(t.TempDir(), "none.sock"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- waitDaemon(ctx, c, time.Hour) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("waitDaemon after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("waitDaemon ignored its context (still waiting 30s after cancel)")
	}
}
