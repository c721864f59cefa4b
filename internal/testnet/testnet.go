// Package testnet holds test servers on loopback.
package testnet

import (
	"net"
	"os"
	"testing"
)

// Serve listens on a loopback TCP port and runs handle for each connection
// in its own goroutine, closing the connection when handle returns. The
// listener closes when the test ends.
func Serve(tb testing.TB, handle func(net.Conn)) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln
}

// Missing ends a test that lacks something it needs: under CI (CI set) a
// missing dependency is a failure, elsewhere the test is skipped.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("CI") != "" {
		tb.Fatalf(format, args...)
	}
	tb.Skipf(format, args...)
}
