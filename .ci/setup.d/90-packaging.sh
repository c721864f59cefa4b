# ci: background
# Release cross-builds (tools/dist), failing CI on a target that does not
# build. Each target compiles the whole tree and the standard library anew
# (about 125 CPU-seconds, 1 min on this 2-core machine when idle), so CI
# builds only the systems no test builds: darwin and freebsd. The others
# are built elsewhere in CI: linux/amd64 (tools/dist TestPackages and
# TestDebInstall, with packages), windows/amd64 (service TestWine builds
# licgate.exe), linux/mipsle (32-bit, softfloat: the router build in
# 61-bolt.sh). What is left out differs from those only in GOARCH
# (linux/arm64, linux/arm, linux/mips, windows/arm64, darwin/amd64) and is
# built at release: LICGATE_DIST_CHECK=all builds every target with its
# packages (deb, rpm, ipk); LICGATE_DIST_CHECK=0 builds none.
# The Go tests (service/wine_test.go, tools/dist/dpkg_test.go) need no set-up
# beyond the apt packages in .ci/apt.d/packaging.txt.
dist_check=${LICGATE_DIST_CHECK:-}
if [ -z "$dist_check" ] && [ "${CI:-}" = true ]; then dist_check=ci; fi
dist_out=$(mktemp -d)
dist_rc=0
case "$dist_check" in
all | 1) go run ./tools/dist -packages deb,rpm,ipk -out "$dist_out" || dist_rc=$? ;;
ci) go run ./tools/dist -targets darwin/arm64,freebsd/amd64 -packages none -out "$dist_out" || dist_rc=$? ;;
*) echo "90-packaging: no cross-builds (LICGATE_DIST_CHECK=${dist_check:-unset})" ;;
esac
rm -rf "$dist_out"
[ "$dist_rc" = 0 ] || { echo "90-packaging: tools/dist failed (exit $dist_rc)" >&2; return 1; }
