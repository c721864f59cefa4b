package main

// Maintainer scripts. Debian's get "configure", "remove", "purge"...; RPM's
// get the number of versions installed after the step (%post: 1 install,
// 2 upgrade; %preun: 0 erase).

const debPostinst = `#!/bin/sh
set -e
if [ "$1" = configure ]; then
	install -d -m 0700 /var/lib/licgate
	if ! getent passwd licgate >/dev/null; then
		adduser --system --group --home /var/lib/licgate --no-create-home \
			--gecos "licgate license gateway" licgate
	fi
	chown licgate:licgate /var/lib/licgate
	# The service runs as licgate and reads its config through the group; the
	# config may hold DDNS keys, so nobody else reads it. licgate setup keeps
	# these owners and modes when it rewrites the file.
	chown root:licgate /etc/licgate /etc/licgate/licgate.yaml
	chmod 0750 /etc/licgate
	chmod 0640 /etc/licgate/licgate.yaml
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload
		systemctl enable licgate.service >/dev/null 2>&1
		if [ -n "$2" ]; then
			systemctl try-restart licgate.service
		else
			echo "licgate: configure and start it with: sudo licgate setup (docs/install.md)"
		fi
	fi
fi
exit 0
`

const debPrerm = `#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl disable --now licgate.service >/dev/null 2>&1 || true
fi
exit 0
`

// debPostrm: purge deletes the state (devices, WireGuard key, audit log);
// the licgate user stays, as Debian's policy advises for system users.
const debPostrm = `#!/bin/sh
set -e
if [ "$1" = purge ]; then
	rm -rf /var/lib/licgate
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
`

// rpmPre makes the user before the files land, as Fedora's packaging
// guidelines do, so a %post that fails half-way still leaves a user.
const rpmPre = `#!/bin/sh
getent group licgate >/dev/null || groupadd -r licgate
getent passwd licgate >/dev/null || useradd -r -g licgate -d /var/lib/licgate -M \
	-s /sbin/nologin -c "licgate license gateway" licgate
exit 0
`

const rpmPost = `#!/bin/sh
install -d -o licgate -g licgate -m 0700 /var/lib/licgate
chown root:licgate /etc/licgate /etc/licgate/licgate.yaml
chmod 0750 /etc/licgate
chmod 0640 /etc/licgate/licgate.yaml
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload
	if [ "$1" -eq 1 ]; then
		systemctl enable licgate.service >/dev/null 2>&1
		echo "licgate: configure and start it with: sudo licgate setup (docs/install.md)"
	else
		systemctl try-restart licgate.service
	fi
fi
exit 0
`

const rpmPreun = `#!/bin/sh
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
	systemctl disable --now licgate.service >/dev/null 2>&1 || true
fi
exit 0
`

const rpmPostun = `#!/bin/sh
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
`

// ipkPostinst: IPKG_INSTROOT is set when the package goes into a firmware
// image being built, not onto a running router.
const ipkPostinst = `#!/bin/sh
[ -n "$IPKG_INSTROOT" ] && exit 0
mkdir -p /etc/licgate/state
chmod 0700 /etc/licgate/state
chmod 0600 /etc/licgate/licgate.yaml
/etc/init.d/licgate enable
echo "licgate: set services[].upstream and tunnel.endpoint in /etc/licgate/licgate.yaml, then: /etc/init.d/licgate start"
exit 0
`

const ipkPrerm = `#!/bin/sh
[ -n "$IPKG_INSTROOT" ] && exit 0
/etc/init.d/licgate stop
/etc/init.d/licgate disable
exit 0
`
