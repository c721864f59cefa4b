#!/bin/sh
# licgate home-user helper for macOS: tunnel "{{.Tunnel}}" to the office license gateway {{.Gateway}}.
#
#   sudo sh {{.Tunnel}}-macos.sh               set up (safe to run again)
#   sudo sh {{.Tunnel}}-macos.sh --uninstall   undo everything this script did
#   sh {{.Tunnel}}-macos.sh reresolve          re-resolve the office name if the tunnel is quiet (run by launchd)
#
# Uses wg-quick from Homebrew (brew install wireguard-tools). With the WireGuard app from the
# App Store instead, import {{.Tunnel}}.conf in the app and run only: sudo sh {{.Tunnel}}-macos.sh --codemeter-only
# It routes only {{.Gateway}} through the tunnel.
set -eu

TUNNEL="{{.Tunnel}}"
GATEWAY="{{.Gateway}}"
PEER="{{.PeerKey}}"
ENDPOINT="{{.Endpoint}}"
MAX_AGE="${LICGATE_MAX_AGE:-{{.MaxAge}}}"
BREW="$( (command -v brew >/dev/null 2>&1 && brew --prefix) || echo /opt/homebrew)"
CONF_DIR="${LICGATE_WG_DIR:-$BREW/etc/wireguard}"
CONF="$CONF_DIR/$TUNNEL.conf"
HERE="$(cd "$(dirname "$0")" && pwd)"
LIB_DIR="/usr/local/lib/licgate"
LABEL="com.licgate.reresolve.$TUNNEL"
PLIST="/Library/LaunchDaemons/$LABEL.plist"
PATH="$BREW/bin:/usr/local/bin:$PATH"

say() { printf 'licgate: %s\n' "$*"; }
die() { printf 'licgate: error: %s\n' "$*" >&2; exit 1; }

find_cmu() {
	for c in "$(command -v cmu 2>/dev/null || true)" /Applications/CodeMeter.app/Contents/MacOS/cmu /usr/local/bin/cmu; do
		if [ -n "$c" ] && [ -x "$c" ]; then echo "$c"; return 0; fi
	done
	return 1
}

# wg-quick on macOS names the interface utunN; the name-to-interface map lives in /var/run/wireguard.
wg_iface() { cat "/var/run/wireguard/$TUNNEL.name" 2>/dev/null; }
tunnel_up() { [ -n "$(wg_iface)" ] && wg show "$(wg_iface)" >/dev/null 2>&1; }

add_server() {
	if ! CMU="$(find_cmu)"; then
		say "CodeMeter's cmu was not found. Install the CodeMeter runtime, then run this again, or run: cmu --add-server $GATEWAY"
		return 0
	fi
	if "$CMU" --list-server 2>/dev/null | grep -qw "$GATEWAY"; then
		say "CodeMeter already lists $GATEWAY"
	else
		"$CMU" --add-server "$GATEWAY" >/dev/null
		say "added $GATEWAY to CodeMeter's server search list"
	fi
}

install() {
	command -v wg-quick >/dev/null 2>&1 || die "wg-quick not found: brew install wireguard-tools (or use the App Store app with --codemeter-only)"
	[ -f "$HERE/$TUNNEL.conf" ] || die "$TUNNEL.conf is not next to this script"
	mkdir -p "$CONF_DIR" "$LIB_DIR"
	if ! cmp -s "$HERE/$TUNNEL.conf" "$CONF" 2>/dev/null; then
		umask 077
		cp "$HERE/$TUNNEL.conf" "$CONF"
		chmod 600 "$CONF"
		if tunnel_up; then wg-quick down "$CONF" >/dev/null 2>&1 || true; fi
	fi
	if tunnel_up; then say "tunnel $TUNNEL is already up"; else wg-quick up "$CONF"; fi
	add_server
	cp "$0" "$LIB_DIR/$TUNNEL.sh"
	cat >"$PLIST" <<PLIST
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key><string>$LABEL</string>
	<key>ProgramArguments</key>
	<array><string>/bin/sh</string><string>$LIB_DIR/$TUNNEL.sh</string><string>reresolve</string></array>
	<key>StartInterval</key><integer>30</integer>
	<key>RunAtLoad</key><true/>
</dict>
</plist>
PLIST
	launchctl bootout system "$PLIST" >/dev/null 2>&1 || true
	launchctl bootstrap system "$PLIST"
	say "done: the tunnel is up, CodeMeter knows $GATEWAY, and launchd re-resolves the office name every 30 s"
}

reresolve() {
	tunnel_up || exit 0
	latest="$(wg show "$(wg_iface)" latest-handshakes | awk -v p="$PEER" '$1 == p { print $2 }')"
	[ -n "$latest" ] || latest=0
	now="$(date +%s)"
	if [ "$latest" -eq 0 ] || [ $((now - latest)) -gt "$MAX_AGE" ]; then
		wg set "$(wg_iface)" peer "$PEER" endpoint "$ENDPOINT"
	fi
}

uninstall() {
	launchctl bootout system "$PLIST" >/dev/null 2>&1 || true
	rm -f "$PLIST" "$LIB_DIR/$TUNNEL.sh"
	if tunnel_up; then wg-quick down "$CONF" >/dev/null 2>&1 || true; fi
	if CMU="$(find_cmu)" && "$CMU" --list-server 2>/dev/null | grep -qw "$GATEWAY"; then
		"$CMU" --delete-server "$GATEWAY" >/dev/null || true
	fi
	rm -f "$CONF"
	say "tunnel $TUNNEL removed"
}

cmd="${1:-install}"
case "$cmd" in
install) [ "$(id -u)" -eq 0 ] || die "run with sudo"; install ;;
--codemeter-only) add_server ;;
--uninstall | uninstall) [ "$(id -u)" -eq 0 ] || die "run with sudo"; uninstall ;;
reresolve) reresolve ;;
*) die "unknown command $cmd (install, --uninstall, --codemeter-only, reresolve)" ;;
esac
