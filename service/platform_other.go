//go:build !linux && !darwin && !freebsd && !windows

package service

import (
	"fmt"
	"runtime"
)

func newPlatform(cfg Config) (Manager, error) {
	return nil, fmt.Errorf("%w: %s: start `licgate serve -c %s` from your init system",
		ErrNoServiceManager, runtime.GOOS, cfg.paths().Config)
}
