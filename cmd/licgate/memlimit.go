package main

import (
	"log/slog"
	"runtime/debug"

	"github.com/licgate/licgate/config"
)

// memoryLimit owns the runtime's soft memory limit, a process-wide setting
// that belongs to main: set from memory_limit at start and on every
// reload, put back to what the process had before (GOMEMLIMIT or none)
// when the key goes away or the daemon stops.
type memoryLimit struct {
	before int64 // the limit found at start
	log    *slog.Logger
}

func newMemoryLimit(log *slog.Logger) *memoryLimit {
	return &memoryLimit{before: debug.SetMemoryLimit(-1), log: log}
}

// apply sets the limit cfg asks for, or the one found at start.
func (m *memoryLimit) apply(cfg *config.Config) {
	limit := int64(cfg.MemoryLimit)
	if limit == 0 {
		limit = m.before
	}
	if prev := debug.SetMemoryLimit(limit); prev != limit && cfg.MemoryLimit != 0 {
		m.log.Info("memory limit set", slog.String("memory_limit", cfg.MemoryLimit.String()))
	}
}

// restore puts back the limit found at start.
func (m *memoryLimit) restore() { debug.SetMemoryLimit(m.before) }
