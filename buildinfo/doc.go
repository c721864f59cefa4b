// Package buildinfo owns what a licgate binary knows about itself: its release
// version, the commit it was built from, the Go toolchain and the target
// platform. `licgate version` prints it; the admin API and the metrics can
// report it so an office knows which build runs on its router.
//
// Release builds (tools/dist) set the values with the linker:
//
//	go build -ldflags "-X github.com/licgate/licgate/buildinfo.version=v1.2.0 \
//	    -X github.com/licgate/licgate/buildinfo.commit=0123abc" ./cmd/licgate
//
// A plain `go build` inside a git checkout still reports the commit: Get falls
// back to the VCS stamp in runtime/debug.ReadBuildInfo (vcs.revision,
// vcs.modified).
//
// Typical usage:
//
//	info := buildinfo.Get()
//	fmt.Println(info)                 // licgate v1.2.0 (0123abc) go1.26.8 linux/arm64
//	b, _ := json.Marshal(info)        // {"version":"v1.2.0","commit":"0123abc",...}
package buildinfo
