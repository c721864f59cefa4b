//go:build unix

package boundedfile

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestFIFORefused: a FIFO is refused without being opened (opening it
// would block until a writer came).
func TestFIFORefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := Read(p, Config); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) {
			t.Errorf("FIFO: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read blocked on a FIFO") // the goroutine stays blocked; the test fails anyway
	}
}
