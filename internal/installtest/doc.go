// Package installtest tests licgate as an office installs it: the .deb
// from the release tooling (tools/dist), installed with Debian's own tools
// into a Debian 12 system that boots with systemd as PID 1
// (systemd-nspawn -b), configured by the commands of docs/install.md's
// zero-touch path, read from the document itself, and used by a home
// computer on the internet side of a home router running Debian's
// miniupnpd with its default configuration.
//
// Typical usage (as root; CI runs it with the rest of `go test ./...`):
//
//	go test ./internal/installtest -run TestInstalledOffice -v
//
// The package holds only tests. The Debian root file system is made with
// debootstrap from Debian's mirror once and kept under
// /var/cache/licgate-installtest/<hash of suite, mirror and packages>/
// (LICGATE_INSTALLTEST_CACHE moves it); a missing or half-made one is made
// afresh. Each run boots a copy-on-write overlay of it, so the cache is
// never changed. Every namespace, mount and container a test makes is
// removed in its cleanup, also on failure.
//
// It needs root, debootstrap, systemd-nspawn, nsenter and unshare, dpkg-deb,
// miniupnpd and nftables, wireguard-tools and wireguard-go, and Mailpit
// (.ci/apt.d/installtest.txt, .ci/setup.d/30-dirmail.sh). Without them it
// skips, or fails under CI.
package installtest
