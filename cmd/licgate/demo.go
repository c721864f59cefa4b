package main

import (
	"flag"

	"github.com/licgate/licgate/cmd/licgate/internal/demo"

	"github.com/licgate/licgate/cmd/licgate/internal/clikit"
)

// setupDemo is `licgate demo` (package cmd/licgate/internal/demo tells the story).
func setupDemo(fs *flag.FlagSet) clikit.RunFunc {
	once := fs.Bool("once", false, "exit after the story (0 if every step worked)")
	verbose := fs.Bool("v", false, "show the gateway's logs")
	dir := fs.String("dir", "", "state `DIR`ectory (default: a new temporary directory)")
	return func(e *clikit.Env, _ []string) error {
		return demo.Run(e.Stdout, e.Stderr, *once, *verbose, *dir)
	}
}
