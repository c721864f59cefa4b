//go:build !licgate_omit_postgres

package cluster_test

import (
	"log/slog"

	"testing"

	"go.uber.org/goleak"
)

// testLogger routes logs to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlogWriter struct{ t *testing.T }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// leakCheck verifies, after every other cleanup ran (pools, gateways),
// that no goroutine of the test is left.
func leakCheck(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}
