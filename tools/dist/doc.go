// Command dist builds licgate's release files without a Go toolchain on the
// target: static binaries (CGO_ENABLED=0, -trimpath, -s -w) for every
// platform an office keeps a license server on, Debian, RPM and OpenWrt
// packages (built with nfpm as a library), SHA256SUMS, and one INSTALL note
// per platform.
//
// Typical usage, from the repository root:
//
//	go run ./tools/dist                              # all targets into dist/
//	go run ./tools/dist -targets linux/amd64 -packages deb
//	go run ./tools/dist -router                      # small router build (build tags below)
//	go run ./tools/dist -allow-failures              # report failing targets, exit 0
//
// A target that fails to build is reported in the summary table with its
// first error line; the others are still built. dist exits 1 if any target
// failed, unless -allow-failures is given (for branches where a package does
// not cross-build yet).
//
// The -router profile adds the build tags in RouterTags: certs, adminapi,
// config and portmap put ACME, the web console, Prometheus metrics and
// UPnP behind them (as tailscale's ts_omit_*), nethttpomithttp2 drops
// net/http's HTTP/2, licgate_omit_postgres the PostgreSQL backend, and
// licgate_store_bolt keeps the state in bbolt instead of SQLite, and the
// -gcflags in RouterGCFlags (no inlining outside the data path). A router
// binary larger than RouterMaxSize (20 MB) fails its target. Together
// they take linux/mipsle from 34.5 MB to 19.0 MB; docs/install-platforms.md
// has the table.
package main
