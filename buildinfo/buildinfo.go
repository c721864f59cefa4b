package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set at link time with -ldflags "-X github.com/licgate/licgate/buildinfo.NAME=VALUE".
// They are unexported strings because -X only sets string variables and callers
// should read them through Get, which fills the gaps.
var (
	version string // e.g. v1.2.0; empty means "devel"
	commit  string // full or short git revision
	date    string // RFC 3339 build time, optional
	goarm   string // GOARM of the build (the runtime does not expose it)
	gomips  string // GOMIPS of the build
)

// VersionVar, CommitVar, DateVar, GOARMVar and GOMIPSVar are the linker symbol
// names tools/dist passes to -X, kept here so a rename breaks the build.
const (
	VersionVar = "github.com/licgate/licgate/buildinfo.version"
	CommitVar  = "github.com/licgate/licgate/buildinfo.commit"
	DateVar    = "github.com/licgate/licgate/buildinfo.date"
	GOARMVar   = "github.com/licgate/licgate/buildinfo.goarm"
	GOMIPSVar  = "github.com/licgate/licgate/buildinfo.gomips"
)

// Info describes one build. The JSON form is what `licgate version -json`
// prints and what the admin API may return.
type Info struct {
	// Version is the release tag. If not set by the linker, the main module's
	// version from the build info ("(devel)" for a checkout), else "devel".
	Version string `json:"version"`
	// Commit is the git revision. If not set by the linker, vcs.revision from
	// the build info, with "+dirty" when vcs.modified was true; else empty.
	Commit string `json:"commit,omitempty"`
	// Date is the build or commit time: the linker's value, else vcs.time.
	Date string `json:"date,omitempty"`
	// GoVersion is the toolchain, e.g. "go1.26.8".
	GoVersion string `json:"go_version"`
	// GOOS, GOARCH are the target platform; GOARM or GOMIPS are set only for
	// arm and mips builds.
	GOOS   string `json:"goos"`
	GOARCH string `json:"goarch"`
	GOARM  string `json:"goarm,omitempty"`
	GOMIPS string `json:"gomips,omitempty"`
	// Tags are the build tags of the binary (e.g. licgate_omit_acme for the
	// router profile), from the build info; empty when none.
	Tags []string `json:"tags,omitempty"`
}

// Get returns the information of the running binary.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return get(bi, version, commit, date, goarm, gomips)
}

// get is Get with its inputs injected, for tests.
func get(bi *debug.BuildInfo, version, commit, date, goarm, gomips string) Info {
	info := Info{
		Version:   version,
		Commit:    commit,
		Date:      date,
		GoVersion: runtime.Version(),
		GOOS:      runtime.GOOS,
		GOARCH:    runtime.GOARCH,
		GOARM:     goarm,
		GOMIPS:    gomips,
	}
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		if info.Version == "" && bi.Main.Version != "" {
			info.Version = bi.Main.Version
		}
		var rev, vtime string
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				vtime = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			case "GOARM":
				if info.GOARM == "" {
					info.GOARM = s.Value
				}
			case "GOMIPS":
				if info.GOMIPS == "" {
					info.GOMIPS = s.Value
				}
			case "GOOS":
				info.GOOS = s.Value
			case "GOARCH":
				info.GOARCH = s.Value
			case "-tags":
				if s.Value != "" {
					info.Tags = strings.Split(s.Value, ",")
				}
			}
		}
		if info.Commit == "" && rev != "" {
			info.Commit = rev
			if modified {
				info.Commit += "+dirty"
			}
		}
		if info.Date == "" {
			info.Date = vtime
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	if info.GOARCH != "arm" {
		info.GOARM = ""
	}
	if !strings.HasPrefix(info.GOARCH, "mips") {
		info.GOMIPS = ""
	}
	return info
}

// Target is the platform in the form tools/dist names it: "linux/arm64",
// "linux/arm/v7", "linux/mips/softfloat".
func (i Info) Target() string {
	t := i.GOOS + "/" + i.GOARCH
	switch {
	case i.GOARM != "":
		t += "/v" + strings.TrimPrefix(i.GOARM, "v")
	case i.GOMIPS != "":
		t += "/" + i.GOMIPS
	}
	return t
}

// ShortCommit is the first 12 characters of Commit (and its "+dirty" mark).
func (i Info) ShortCommit() string {
	c, dirty := strings.CutSuffix(i.Commit, "+dirty")
	if len(c) > 12 {
		c = c[:12]
	}
	if dirty {
		c += "+dirty"
	}
	return c
}

// String is the one line `licgate version` prints:
// "licgate v1.2.0 (0123abcdef01) go1.26.8 linux/arm/v7 tags=licgate_omit_acme".
func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "licgate %s", i.Version)
	if c := i.ShortCommit(); c != "" {
		fmt.Fprintf(&b, " (%s)", c)
	}
	fmt.Fprintf(&b, " %s %s", i.GoVersion, i.Target())
	if len(i.Tags) > 0 {
		fmt.Fprintf(&b, " tags=%s", strings.Join(i.Tags, ","))
	}
	return b.String()
}
