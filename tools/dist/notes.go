package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// installNotes are the per-platform INSTALL files next to the binaries; the
// full guide is docs/install-platforms.md.
var installNotes = map[string]string{
	"INSTALL-linux.txt": `licgate on Linux (no Go needed)

Debian/Ubuntu:  sudo apt install ./licgate_<version>_amd64.deb     (arm64, armhf likewise)
RHEL/Fedora:    sudo dnf install ./licgate-<version>.x86_64.rpm
Then configure and start it (docs/install.md, "Zero-touch"):
  sudo licgate setup --upstream <license server> --public-name <office name or address> --portmap on --public-listen :8443 --admin it --yes
or edit /etc/licgate/licgate.yaml (services[].upstream, tunnel.endpoint) and
  sudo systemctl restart licgate && journalctl -u licgate -f
The packages create the system user and group "licgate" (the service runs as it) and the
state directory /var/lib/licgate; /etc/licgate and its config are root:licgate, 0750 and 0640.
The service may bind ports below 1024 (CAP_NET_BIND_SERVICE), no other privilege.

Other distributions: copy licgate-linux-<arch> to /usr/local/bin/licgate (chmod 0755),
make the system user: sudo useradd --system --user-group --home-dir /var/lib/licgate --no-create-home licgate
write /etc/licgate/licgate.yaml as root:licgate 0640 (the service runs as licgate and reads
it through the group), then "sudo licgate service install" (systemd).
Verify downloads with: sha256sum -c --ignore-missing SHA256SUMS
`,
	"INSTALL-windows.txt": `licgate on Windows 10 1803+ / Server 2019+ (no Go needed)

From an elevated PowerShell, in the folder holding licgate-windows-amd64.exe:
  New-Item -ItemType Directory -Force "C:\Program Files\licgate"
  Copy-Item .\licgate-windows-amd64.exe "C:\Program Files\licgate\licgate.exe"
  & "C:\Program Files\licgate\licgate.exe" service install
The service "licgate" starts at boot and restarts after failures. Config:
%ProgramData%\licgate\licgate.yaml; state and admin socket in %ProgramData%\licgate
(SYSTEM and Administrators only). Logs: Event Viewer > Windows Logs > Application, source licgate.
Verify: (Get-FileHash .\licgate-windows-amd64.exe).Hash against SHA256SUMS
`,
	"INSTALL-macos.txt": `licgate on macOS (no Go needed)

  sudo install -m 0755 licgate-darwin-arm64 /usr/local/bin/licgate   (Intel: licgate-darwin-amd64)
  sudo xattr -d com.apple.quarantine /usr/local/bin/licgate 2>/dev/null || true
  sudo licgate service install
launchd runs it as com.github.licgate.licgate (/Library/LaunchDaemons). Config and state:
/Library/Application Support/licgate; log: /Library/Logs/licgate/licgate.log
Verify: shasum -a 256 -c --ignore-missing SHA256SUMS
`,
	"INSTALL-freebsd.txt": `licgate on FreeBSD (no Go needed)

  install -m 0755 licgate-freebsd-amd64 /usr/local/bin/licgate
  licgate service install        # rc.d script, licgate_enable=YES, service licgate start
Config: /usr/local/etc/licgate/licgate.yaml; state: /var/db/licgate; logs via syslog.
`,
	"INSTALL-openwrt.txt": `licgate on OpenWrt routers (no Go needed)

Pick the .ipk for the router's CPU ("opkg print-architecture"; mipsel_* -> mipsle,
mips_* -> mips, arm_cortex-a7/a9 -> armv7, aarch64_* -> arm64):
  scp licgate_<version>_mipsle.ipk root@192.168.1.1:/tmp/
  ssh root@192.168.1.1 'opkg install /tmp/licgate_<version>_mipsle.ipk'
Edit /etc/licgate/licgate.yaml on the router, then: /etc/init.d/licgate start
State on flash: /etc/licgate/state (kept over sysupgrade); logs: logread -e licgate
The -router packages keep it in licgate.bolt and cannot read the licgate.db of a full
build: they refuse to start on one (docs/install-platforms.md, "State in the router build").
`,
}

func writeInstallNotes(dir string) error {
	for name, body := range installNotes {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return fmt.Errorf("dist: %w", err)
		}
	}
	return nil
}
