# internal/installtest boots Debian with systemd-nspawn. Its Debian root file
# system is made with debootstrap from Debian's mirror on a machine's first run
# and kept in /var/cache/licgate-installtest (later runs reuse it). Made here,
# with a time limit of its own, so that debootstrap's minutes do not count
# against the test suite's. On a host whose init is not systemd (CI's), nspawn
# needs /run/systemd/nspawn on a file system of its own: the test mounts a
# tmpfs there itself.
mkdir -p /var/cache/licgate-installtest
go test -count=1 -timeout 20m -run '^TestDebianRootFS$' ./internal/installtest
