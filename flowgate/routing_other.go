//go:build !linux

package flowgate

import (
	"fmt"
	"runtime"
)

// Setup is Linux only: forwarding mode runs on tun mode, which is.
func (r Routing) Setup() (teardown func() error, err error) {
	return nil, fmt.Errorf("flowgate: forwarding is not supported on %s", runtime.GOOS)
}
