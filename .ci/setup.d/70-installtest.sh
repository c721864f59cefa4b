# internal/installtest boots Debian with systemd-nspawn. On a host whose init
# is not systemd (CI's), nspawn needs /run/systemd/nspawn on a file system of
# its own; the test mounts a tmpfs there itself when it is missing. Here only
# the cache directory for the Debian root file system is made (debootstrap
# fills it on the first run, later runs reuse it).
mkdir -p /var/cache/licgate-installtest
