package main

import (
	"flag"

	"github.com/licgate/licgate/cmd/licgate/internal/demo"
)

// setupDemo is `licgate demo` (package cmd/licgate/internal/demo tells the story).
func setupDemo(fs *flag.FlagSet) runFunc {
	once := fs.Bool("once", false, "exit after the story (0 if every step worked)")
	verbose := fs.Bool("v", false, "show the gateway's logs")
	dir := fs.String("dir", "", "state `DIR`ectory (default: a new temporary directory)")
	return func(e *env, _ []string) error {
		return demo.Run(e.stdout, e.stderr, *once, *verbose, *dir)
	}
}
