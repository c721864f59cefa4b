package main

import (
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

func setupVersion(fs *flag.FlagSet) runFunc {
	return func(e *env, _ []string) error {
		fmt.Fprintln(e.stdout, versionLine())
		return nil
	}
}

// versionLine describes this build: module version, VCS revision (and
// whether the tree was modified), Go version and platform. It is the one
// place to swap for a buildinfo package.
func versionLine() string {
	version, rev, dirty := "(devel)", "", false
	goVersion := runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "licgate %s", version)
	if rev != "" {
		fmt.Fprintf(&b, " (%s", rev[:min(12, len(rev))])
		if dirty {
			b.WriteString(", modified")
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, " %s %s/%s", goVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}
