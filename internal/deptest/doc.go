// Package deptest holds licgate's package structure, as tailscale's
// tstest/deptest does: dependencies point one way (cmd -> gateway ->
// features -> parts -> leaves), each forbidden edge says why, test
// fixtures stay out of the product, and no package outgrows its budget
// (2,000 non-test lines; gateway 1,500).
//
// It checks what the compiler sees, not what one build shows: the
// transitive imports from `go list -deps`, for every GOOS licgate ships
// (linux, windows, darwin, freebsd), with no tags, with each build tag the
// tree uses (found in its //go:build lines) and with tools/dist's
// RouterTags together. The lists run in parallel and are cached under the
// user cache directory, keyed by a hash of every Go file.
//
// Typical usage, in this package's test:
//
//	l := &deptest.Loader{Root: root, Cache: dir}
//	graphs, err := l.Load(deptest.Builds(goos, tags, routerTags))
//	fail, accepted := deptest.Known(deptest.Licgate.Check(graphs), known)
//
// The known list in deptest_test.go names today's violations that issue
// 24's split removes; the test fails when one no longer happens, so the
// list only shrinks.
package deptest
