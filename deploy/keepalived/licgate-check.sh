#!/bin/sh
# keepalived health check for licgate (vrrp_script chk_licgate).
# Exit 0: this gateway can serve home users; anything else: give up the
# virtual IP. Install as /usr/local/lib/licgate/licgate-check.sh, owned
# by root, mode 0755 (keepalived's enable_script_security insists).
#
# LICGATE_SOCKET: the admin API socket (default /var/lib/licgate/licgate.sock).
set -u
sock=${LICGATE_SOCKET:-/var/lib/licgate/licgate.sock}
# `licgate doctor --quiet` checks everything (store, tunnel, upstream)
# when this licgate has it; otherwise ask the daemon's health endpoint.
if command -v licgate >/dev/null 2>&1 && licgate doctor --help >/dev/null 2>&1; then
	exec timeout 3 licgate doctor --quiet
fi
exec curl -fsS -o /dev/null -m 2 --unix-socket "$sock" http://licgate/api/v1/health
