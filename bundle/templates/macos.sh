#!/bin/sh
# licgate home-user helper for macOS: tunnel "{{.Tunnel}}" to the office license gateway {{.Gateway}}.
#
#   sudo sh {{.Tunnel}}-macos.sh               set up (safe to run again)
#   sudo sh {{.Tunnel}}-macos.sh --uninstall   undo everything this script did
#   sh {{.Tunnel}}-macos.sh reresolve          re-resolve the office name if the tunnel is quiet (run by launchd)
#
# Uses wg-quick from Homebrew (brew install wireguard-tools). With the WireGuard app from the
# App Store instead, import {{.Tunnel}}.conf in the app and run only: sudo sh {{.Tunnel}}-macos.sh --licenses-only
# (--codemeter-only is the same, kept for older instructions)
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
LIB_DIR="${LICGATE_LIB_DIR:-/usr/local/lib/licgate}"
LABEL="com.licgate.reresolve.$TUNNEL"
PLIST="/Library/LaunchDaemons/$LABEL.plist"
PATH="$BREW/bin:/usr/local/bin:$PATH"
# Where applications look for the license servers (docs/home-users.md):
# FlexNet's and RLM's variables for GUI applications (a LaunchAgent runs
# launchctl setenv at every login) and zsh logins (/etc/zprofile sources
# the variables file), Sentinel LDK's remote search.
CODEMETER="{{if .CodeMeter}}1{{end}}"
LDK="{{if .LDK}}1{{end}}"
ENV_SH="$LIB_DIR/$TUNNEL-env.sh"
ZPROFILE="${LICGATE_ZPROFILE:-/etc/zprofile}"
AGENT_LABEL="com.licgate.env.$TUNNEL"
AGENT="${LICGATE_LAUNCH_AGENTS:-/Library/LaunchAgents}/$AGENT_LABEL.plist"
HASPLM_INI="${LICGATE_HASPLM_INI:-/etc/hasplm/hasplm.ini}"
LDK_MARK="$LIB_DIR/$TUNNEL.ldk-added"

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

set_license_vars() {
{{- if .EnvVars}}
	mkdir -p "$LIB_DIR"
	cat >"$ENV_SH" <<'ENV'
# licgate: license servers through tunnel {{.Tunnel}} (removed by {{.Tunnel}}-macos.sh --uninstall)
{{.ProfileScript}}if [ -n "${LICGATE_LAUNCHCTL:-}" ]; then
{{- range .EnvVars}}
	launchctl setenv {{.Name}} "${{.Name}}"
{{- end}}
fi
ENV
	chmod 644 "$ENV_SH"
	if ! grep -qF "# licgate $TUNNEL" "$ZPROFILE" 2>/dev/null; then
		printf '%s\n' "[ -r $ENV_SH ] && . $ENV_SH # licgate $TUNNEL" >>"$ZPROFILE"
	fi
	cat >"$AGENT" <<PLIST
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key><string>$AGENT_LABEL</string>
	<key>ProgramArguments</key>
	<array><string>/bin/sh</string><string>$ENV_SH</string></array>
	<key>EnvironmentVariables</key>
	<dict><key>LICGATE_LAUNCHCTL</key><string>1</string></dict>
	<key>RunAtLoad</key><true/>
</dict>
</plist>
PLIST
	if [ -n "${SUDO_USER:-}" ]; then
		launchctl asuser "$(id -u "$SUDO_USER")" /usr/bin/env LICGATE_LAUNCHCTL=1 /bin/sh "$ENV_SH" || true
	fi
	say "license variables set for GUI applications and zsh logins: {{.EnvPairs}} (quit and reopen running applications)"
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
	launchctl kickstart -k system/com.aladdin.hasplmd >/dev/null 2>&1 || true
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
	point_licenses
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
	say "done: the tunnel is up, applications find the license server at $GATEWAY, and launchd re-resolves the office name every 30 s"
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
	if [ -f "$AGENT" ] || [ -f "$ENV_SH" ]; then
		rm -f "$AGENT" "$ENV_SH"
		if [ -f "$ZPROFILE" ] && grep -qF "# licgate $TUNNEL" "$ZPROFILE"; then
			grep -vF "# licgate $TUNNEL" "$ZPROFILE" >"$ZPROFILE.tmp" || true
			cat "$ZPROFILE.tmp" >"$ZPROFILE" && rm -f "$ZPROFILE.tmp"
		fi
		if [ -n "${SUDO_USER:-}" ]; then
{{- range .EnvVars}}
			launchctl asuser "$(id -u "$SUDO_USER")" launchctl unsetenv {{.Name}} || true
{{- end}}
			:
		fi
		say "license variables removed"
	fi
	del_ldk_server
	rm -f "$CONF"
	say "tunnel $TUNNEL removed"
}

cmd="${1:-install}"
case "$cmd" in
install) [ "$(id -u)" -eq 0 ] || die "run with sudo"; install ;;
--licenses-only | --codemeter-only) [ "$(id -u)" -eq 0 ] || die "run with sudo"; point_licenses ;;
--uninstall | uninstall) [ "$(id -u)" -eq 0 ] || die "run with sudo"; uninstall ;;
reresolve) reresolve ;;
*) die "unknown command $cmd (install, --uninstall, --licenses-only, reresolve)" ;;
esac
