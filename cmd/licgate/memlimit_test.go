package main

import (
	"log/slog"
	"runtime/debug"
	"testing"

	"github.com/licgate/licgate/config"
)

// memory_limit sets the runtime's soft limit at start, a reload changes
// it or takes it away, and stopping puts back what was there before.
func TestMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	parse := func(doc string) *config.Config {
		c, err := config.Parse("c.yaml", []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	m := newMemoryLimit(slog.New(slog.DiscardHandler))
	m.apply(parse("memory_limit: 300MiB\n"))
	if got := debug.SetMemoryLimit(-1); got != 300<<20 {
		t.Fatalf("limit after start %d, want %d", got, 300<<20)
	}
	m.apply(parse("memory_limit: 1GiB\n"))
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Fatalf("limit after reload %d, want %d", got, 1<<30)
	}
	m.apply(parse("log_level: info\n"))
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Fatalf("limit after the key went %d, want the earlier %d", got, before)
	}
	m.apply(parse("memory_limit: 400MiB\n"))
	m.restore()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Fatalf("limit after stop %d, want the earlier %d", got, before)
	}
}
