package licmgr_test

import (
	"testing"

	"go.uber.org/goleak"
)

// checkLeaks fails t if goroutines it started outlive its cleanups. Call
// it first, so its check runs last.
func checkLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}
