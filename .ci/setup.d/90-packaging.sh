# Cross-builds of every release target (tools/dist), failing CI on any target
# that does not build. Off until tunnel/ and store/ cross-build (netlink on
# non-Linux, modernc sqlite on mips): the lead sets LICGATE_DIST_CHECK=1 here
# (or in the CI environment) after merging them. Takes several minutes on 2 cores.
# The Go tests (service/wine_test.go, tools/dist/dpkg_test.go) need no set-up
# beyond the apt packages in .ci/apt.d/packaging.txt.
if [ "${LICGATE_DIST_CHECK:-${CI:-0}}" = 1 ] || [ "${LICGATE_DIST_CHECK:-}" = "" -a "${CI:-}" = true ]; then
	dist_out=$(mktemp -d)
	go run ./tools/dist -packages deb,rpm,ipk -out "$dist_out"
	rm -rf "$dist_out"
fi
