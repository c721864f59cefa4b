#!/bin/sh
# licgate home-user helper for Linux: tunnel "{{.Tunnel}}" to the office license gateway {{.Gateway}}.
#
#   sudo sh {{.Tunnel}}-linux.sh               set up (safe to run again)
#   sudo sh {{.Tunnel}}-linux.sh --uninstall   undo everything this script did
#   sudo sh {{.Tunnel}}-linux.sh status        show the tunnel and where license managers look
#   sh {{.Tunnel}}-linux.sh reresolve [--max-age SECONDS]
#        re-resolve the office name if the tunnel has been quiet (run by a systemd timer)
#
# It needs {{.Tunnel}}.conf (the WireGuard profile) next to it. It routes only {{.Gateway}}
# through the tunnel; nothing else of this computer's traffic goes to the office.
set -eu

TUNNEL="{{.Tunnel}}"
GATEWAY="{{.Gateway}}"
PEER="{{.PeerKey}}"
ENDPOINT="{{.Endpoint}}"
MAX_AGE="${LICGATE_MAX_AGE:-{{.MaxAge}}}"
CONF_DIR="${LICGATE_WG_DIR:-/etc/wireguard}"
CONF="$CONF_DIR/$TUNNEL.conf"
HERE="$(cd "$(dirname "$0")" && pwd)"
SELF="$HERE/$(basename "$0")"
LIB_DIR="${LICGATE_LIB_DIR:-/usr/local/lib/licgate}"
UNIT="licgate-reresolve-$TUNNEL"
# Where applications look for the license servers (docs/home-users.md):
# FlexNet's and RLM's variables for every login (profile.d for shells,
# environment.d for desktop sessions), Sentinel LDK's remote search.
CODEMETER="{{if .CodeMeter}}1{{end}}"
LDK="{{if .LDK}}1{{end}}"
PROFILE_D="${LICGATE_PROFILE_D:-/etc/profile.d}"
ENV_D="${LICGATE_ENV_D:-/etc/environment.d}"
HASPLM_INI="${LICGATE_HASPLM_INI:-/etc/hasplm/hasplm.ini}"
ENV_SH="$PROFILE_D/licgate-$TUNNEL.sh"
ENV_CONF="$ENV_D/60-licgate-$TUNNEL.conf"
LDK_MARK="$LIB_DIR/$TUNNEL.ldk-added"

say() { printf 'licgate: %s\n' "$*"; }
die() { printf 'licgate: error: %s\n' "$*" >&2; exit 1; }
has_systemd() { [ -z "${LICGATE_NO_SYSTEMD:-}" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

find_cmu() {
	for c in "$(command -v cmu 2>/dev/null || true)" /usr/bin/cmu /usr/sbin/cmu /opt/CodeMeter/bin/cmu; do
		if [ -n "$c" ] && [ -x "$c" ]; then echo "$c"; return 0; fi
	done
	return 1
}

tunnel_up() { wg show "$TUNNEL" >/dev/null 2>&1; }

install_profile() {
	[ -f "$HERE/$TUNNEL.conf" ] || die "$TUNNEL.conf is not next to this script ($HERE)"
	mkdir -p "$CONF_DIR"
	if [ -f "$CONF" ] && cmp -s "$HERE/$TUNNEL.conf" "$CONF"; then
		say "profile already installed at $CONF"
	else
		umask 077
		cp "$HERE/$TUNNEL.conf" "$CONF.tmp" && chmod 600 "$CONF.tmp" && mv "$CONF.tmp" "$CONF"
		say "profile installed at $CONF"
		if tunnel_up; then wg-quick down "$CONF" >/dev/null 2>&1 || true; fi
	fi
}

start_tunnel() {
	if has_systemd && [ "$CONF_DIR" = /etc/wireguard ]; then
		systemctl enable --now "wg-quick@$TUNNEL" >/dev/null
		say "tunnel $TUNNEL enabled (starts at boot)"
	elif tunnel_up; then
		say "tunnel $TUNNEL is already up"
	else
		wg-quick up "$CONF"
		say "tunnel $TUNNEL is up (not started at boot: no systemd)"
	fi
}

add_server() {
	if ! CMU="$(find_cmu)"; then
		say "CodeMeter's cmu was not found. Install the CodeMeter runtime (from your software vendor or wibu.com),"
		say "then run this script again, or add the server by hand: cmu --add-server $GATEWAY"
		return 0
	fi
	if "$CMU" --list-server 2>/dev/null | grep -qw "$GATEWAY"; then
		say "CodeMeter already lists $GATEWAY"
	else
		"$CMU" --add-server "$GATEWAY" >/dev/null
		say "added $GATEWAY to CodeMeter's server search list"
	fi
}

# write_if_changed FILE: stdin becomes FILE unless FILE already says so.
write_if_changed() {
	mkdir -p "$(dirname "$1")"
	cat >"$1.tmp"
	if cmp -s "$1.tmp" "$1"; then
		rm -f "$1.tmp"
		return 1
	fi
	chmod 644 "$1.tmp" && mv "$1.tmp" "$1"
}

set_license_vars() {
{{- if .EnvVars}}
	changed=""
	write_if_changed "$ENV_SH" <<'ENV' && changed=1
# licgate: license servers through tunnel {{.Tunnel}} (removed by {{.Tunnel}}-linux.sh --uninstall)
{{.ProfileScript}}ENV
	write_if_changed "$ENV_CONF" <<'ENV' && changed=1
# licgate: license servers through tunnel {{.Tunnel}} (removed by {{.Tunnel}}-linux.sh --uninstall)
{{.EnvironmentD}}ENV
	if [ -n "$changed" ]; then
		say "license variables set for every login ($ENV_SH, $ENV_CONF): {{.EnvPairs}}; log out and in again for them to apply"
	else
		say "license variables already set ({{.EnvPairs}})"
	fi
{{- else}}
	: # the office fronts no FlexNet or RLM server
{{- end}}
}

# ldk_has: hasplm.ini's [REMOTE] section already names the gateway.
ldk_has() {
	[ -f "$HASPLM_INI" ] && awk -v gw="$GATEWAY" '
		/^[ \t]*\[/ { remote = (tolower($0) ~ /^[ \t]*\[remote\]/) }
		remote { line = $0; gsub(/[ \t\r]/, "", line); if (tolower(line) == "serveraddr=" gw) found = 1 }
		END { exit !found }' "$HASPLM_INI"
}

# restart_ldk: Sentinel LDK's License Manager reads hasplm.ini at start.
restart_ldk() {
	if has_systemd; then systemctl try-restart aksusbd >/dev/null 2>&1 || true; fi
}

add_ldk_server() {
	if ldk_has; then
		say "Sentinel LDK already searches $GATEWAY ($HASPLM_INI)"
		return 0
	fi
	mkdir -p "$(dirname "$HASPLM_INI")" "$LIB_DIR"
	created=""
	if [ ! -f "$HASPLM_INI" ]; then
		: >"$HASPLM_INI"
		created=created
	fi
	awk -v gw="$GATEWAY" '
		{ print }
		!done && tolower($0) ~ /^[ \t]*\[remote\]/ { print "serveraddr = " gw; done = 1 }
		END { if (!done) { print "[REMOTE]"; print "serveraddr = " gw } }' "$HASPLM_INI" >"$HASPLM_INI.tmp"
	mv "$HASPLM_INI.tmp" "$HASPLM_INI"
	echo "$created" >"$LDK_MARK"
	restart_ldk
	say "added $GATEWAY to Sentinel LDK's remote search ($HASPLM_INI [REMOTE] serveraddr)"
}

# del_ldk_server removes the line add_ldk_server added (not one the user had before).
del_ldk_server() {
	[ -f "$LDK_MARK" ] || return 0
	if [ -f "$HASPLM_INI" ]; then
		awk -v gw="$GATEWAY" '
			/^[ \t]*\[/ { remote = (tolower($0) ~ /^[ \t]*\[remote\]/) }
			{ line = $0; gsub(/[ \t\r]/, "", line) }
			!(remote && tolower(line) == "serveraddr=" gw) { print }' "$HASPLM_INI" >"$HASPLM_INI.tmp"
		mv "$HASPLM_INI.tmp" "$HASPLM_INI"
		# A file this script made and that holds nothing else goes too.
		if [ "$(cat "$LDK_MARK")" = created ] && [ "$(tr -d ' \t\r\n' <"$HASPLM_INI")" = "[REMOTE]" ]; then
			rm -f "$HASPLM_INI"
		fi
		restart_ldk
		say "removed $GATEWAY from Sentinel LDK's remote search"
	fi
	rm -f "$LDK_MARK"
}

point_licenses() {
	if [ -n "$CODEMETER" ]; then add_server; fi
	set_license_vars
	if [ -n "$LDK" ]; then add_ldk_server; fi
}

install_timer() {
	mkdir -p "$LIB_DIR"
	if ! cmp -s "$SELF" "$LIB_DIR/$TUNNEL.sh" 2>/dev/null; then
		cp "$SELF" "$LIB_DIR/$TUNNEL.sh"
		chmod 755 "$LIB_DIR/$TUNNEL.sh"
	fi
	if ! has_systemd; then
		say "no systemd: run '$LIB_DIR/$TUNNEL.sh reresolve' every 30 seconds (e.g. from cron) to follow office address changes"
		return 0
	fi
	cat >"/etc/systemd/system/$UNIT.service" <<UNIT
[Unit]
Description=licgate: re-resolve the office endpoint of WireGuard tunnel $TUNNEL
After=network-online.target

[Service]
Type=oneshot
Environment=LICGATE_WG_DIR=$CONF_DIR
ExecStart=/bin/sh $LIB_DIR/$TUNNEL.sh reresolve
UNIT
	cat >"/etc/systemd/system/$UNIT.timer" <<UNIT
[Unit]
Description=licgate: re-resolve the office endpoint of $TUNNEL every 30 s

[Timer]
OnBootSec=1min
OnUnitActiveSec=30s

[Install]
WantedBy=timers.target
UNIT
	systemctl daemon-reload
	systemctl enable --now "$UNIT.timer" >/dev/null
	say "re-resolve timer $UNIT.timer active"
}

reresolve() {
	while [ $# -gt 0 ]; do
		case "$1" in
		--max-age) MAX_AGE="$2"; shift 2 ;;
		*) die "reresolve: unknown option $1" ;;
		esac
	done
	tunnel_up || exit 0
	latest="$(wg show "$TUNNEL" latest-handshakes | awk -v p="$PEER" '$1 == p { print $2 }')"
	now="$(date +%s)"
	[ -n "$latest" ] || latest=0
	if [ "$latest" -eq 0 ] || [ $((now - latest)) -gt "$MAX_AGE" ]; then
		wg set "$TUNNEL" peer "$PEER" endpoint "$ENDPOINT"
		say "handshake older than ${MAX_AGE}s: endpoint re-resolved ($ENDPOINT)"
	fi
}

uninstall() {
	if has_systemd; then
		systemctl disable --now "$UNIT.timer" >/dev/null 2>&1 || true
		rm -f "/etc/systemd/system/$UNIT.timer" "/etc/systemd/system/$UNIT.service"
		systemctl daemon-reload 2>/dev/null || true
		systemctl disable --now "wg-quick@$TUNNEL" >/dev/null 2>&1 || true
	fi
	if tunnel_up; then wg-quick down "$CONF" >/dev/null 2>&1 || wg-quick down "$TUNNEL" >/dev/null 2>&1 || true; fi
	if CMU="$(find_cmu)" && "$CMU" --list-server 2>/dev/null | grep -qw "$GATEWAY"; then
		"$CMU" --delete-server "$GATEWAY" >/dev/null || true
		say "removed $GATEWAY from CodeMeter's server search list"
	fi
	if [ -f "$ENV_SH" ] || [ -f "$ENV_CONF" ]; then
		rm -f "$ENV_SH" "$ENV_CONF"
		say "license variables removed (log out and in again)"
	fi
	del_ldk_server
	rm -f "$CONF" "$LIB_DIR/$TUNNEL.sh"
	say "tunnel $TUNNEL removed"
}

status() {
	wg show "$TUNNEL" 2>/dev/null || say "tunnel $TUNNEL is down"
	if [ -n "$CODEMETER" ] && CMU="$(find_cmu)"; then "$CMU" --list-server || true; fi
	if [ -f "$ENV_SH" ]; then say "license variables: {{.EnvPairs}} ($ENV_SH)"; fi
	if [ -n "$LDK" ]; then
		if ldk_has; then say "Sentinel LDK searches $GATEWAY"; else say "Sentinel LDK does not search $GATEWAY yet"; fi
	fi
}

cmd="${1:-install}"
[ $# -gt 0 ] && shift
case "$cmd" in
install)
	[ "$(id -u)" -eq 0 ] || die "run as root: sudo sh $0"
	command -v wg-quick >/dev/null 2>&1 || die "wg-quick not found: install WireGuard first (Debian/Ubuntu: sudo apt install wireguard-tools; Fedora: sudo dnf install wireguard-tools)"
	install_profile
	start_tunnel
	point_licenses
	install_timer
	say "done: start your licensed application; it finds the license server at $GATEWAY"
	;;
--uninstall | uninstall)
	[ "$(id -u)" -eq 0 ] || die "run as root: sudo sh $0 --uninstall"
	uninstall
	;;
reresolve) reresolve "$@" ;;
status) status ;;
*) die "unknown command $cmd (install, --uninstall, status, reresolve)" ;;
esac
