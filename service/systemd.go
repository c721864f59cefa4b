package service

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// SystemdUnit returns the systemd unit for cfg. With the zero Config but
// Executable "/usr/local/bin/licgate" and Args ["serve", "-c",
// "/etc/licgate/licgate.yaml"] it is deploy/licgate.service byte for byte (a
// golden test holds that); the Debian package uses User "licgate" and
// /usr/bin/licgate.
func SystemdUnit(cfg Config, executable string) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("[Unit]")
	w("Description=%s", cfg.description())
	w("Documentation=https://github.com/licgate/licgate")
	w("After=network-online.target")
	w("Wants=network-online.target")
	w("")
	w("[Service]")
	w("Type=simple")
	w("ExecStart=%s", systemdCommandLine(append([]string{executable}, cfg.args()...)))
	w("Restart=on-failure")
	w("RestartSec=2s")
	if cfg.User == "" {
		w("# netstack mode needs no privileges: run as a dynamic user with its own state dir.")
		w("DynamicUser=yes")
	} else {
		w("# netstack mode needs no privileges: run as the package's system user.")
		w("User=%s", cfg.User)
		w("Group=%s", cfg.User)
	}
	w("StateDirectory=licgate")
	w("StateDirectoryMode=0700")
	w("RuntimeDirectory=licgate")
	w("# A public listener below port 1024 (public.listen :443, ACME HTTP-01 on :80) needs")
	w("# CAP_NET_BIND_SERVICE: the unprivileged user gets that one capability, no other.")
	w("# tunnel.mode tun or kernel needs CAP_NET_ADMIN too: add it to both lines.")
	w("AmbientCapabilities=CAP_NET_BIND_SERVICE")
	w("CapabilityBoundingSet=CAP_NET_BIND_SERVICE")
	w("# On a small VM (1-2 vCPUs), one scheduler thread answers license round trips")
	w("# faster (fewer thread wake-ups; see docs/performance.md):")
	w("#Environment=GOMAXPROCS=1")
	w("NoNewPrivileges=yes")
	w("ProtectSystem=strict")
	w("ProtectHome=yes")
	w("PrivateTmp=yes")
	w("# tun mode needs /dev/net/tun: set PrivateDevices=no there.")
	w("PrivateDevices=yes")
	w("ProtectKernelTunables=yes")
	w("ProtectKernelModules=yes")
	w("ProtectControlGroups=yes")
	w("RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK")
	w("LockPersonality=yes")
	w("MemoryDenyWriteExecute=yes")
	w("SystemCallArchitectures=native")
	w("")
	w("[Install]")
	w("WantedBy=multi-user.target")
	return b.String()
}

// systemdCommandLine quotes the words systemd would otherwise split or
// expand ($, %, spaces, quotes).
func systemdCommandLine(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		w = strings.ReplaceAll(w, "%", "%%")
		w = strings.ReplaceAll(w, "$", "$$")
		if w == "" || strings.ContainsAny(w, " \t\"'\\;") {
			w = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(w) + `"`
		}
		q[i] = w
	}
	return strings.Join(q, " ")
}

// systemd drives systemctl. It is plain file and exec code, built on every
// platform so its tests run anywhere.
type systemd struct {
	cfg Config
	fs  fsys
	run runFunc
}

// newSystemd checks that systemd is the running init (sd_booted(3): the
// directory /run/systemd/system exists).
func newSystemd(cfg Config, fs fsys, run runFunc) (*systemd, error) {
	if _, err := os.Stat(fs.path("/run/systemd/system")); err != nil {
		return nil, fmt.Errorf("%w: systemd is not running (no /run/systemd/system); "+
			"on OpenWrt install the licgate .ipk (procd), elsewhere start `licgate serve -c %s` from your init system",
			ErrNoServiceManager, cfg.paths().Config)
	}
	return &systemd{cfg: cfg, fs: fs, run: run}, nil
}

func (s *systemd) unit() string     { return s.cfg.name() + ".service" }
func (s *systemd) unitPath() string { return "/etc/systemd/system/" + s.unit() }

func (s *systemd) systemctl(ctx context.Context, args ...string) ([]byte, error) {
	s.cfg.log().Info("service: systemctl", "args", args)
	out, err := s.run(ctx, "systemctl", args...)
	if err != nil {
		return out, cmdError("systemctl", args, out, err)
	}
	return out, nil
}

func (s *systemd) Install(ctx context.Context) error {
	exe, err := s.cfg.executable()
	if err != nil {
		return err
	}
	if p := s.packagedUnit(exe); p != "" {
		// Ours in /etc would shadow the package's (see packagedUnit).
		if s.fs.exists(s.unitPath()) {
			if err := s.fs.remove(s.unitPath()); err != nil {
				return err
			}
		}
		s.cfg.log().Info("service: the package's unit", "file", p)
	} else {
		if err := s.fs.writeFile(s.unitPath(), []byte(SystemdUnit(s.cfg, exe)), 0o644); err != nil {
			return err
		}
		s.cfg.log().Info("service: unit written", "file", s.unitPath())
	}
	if _, err := s.systemctl(ctx, "daemon-reload"); err != nil {
		return err
	}
	if _, err := s.systemctl(ctx, "enable", s.unit()); err != nil {
		return err
	}
	// restart, not start: a second Install must run the new definition.
	_, err = s.systemctl(ctx, "restart", s.unit())
	return err
}

// packagedUnit returns the unit a .deb or .rpm installed for this same
// command line, or "". Install enables and starts it as it is: it runs as
// the package's user, and a unit in /etc with DynamicUser over it would
// move the package's state to /var/lib/private, where the package's purge
// does not look (issue 22).
func (s *systemd) packagedUnit(exe string) string {
	want := "\nExecStart=" + systemdCommandLine(append([]string{exe}, s.cfg.args()...)) + "\n"
	for _, dir := range []string{"/lib/systemd/system/", "/usr/lib/systemd/system/"} {
		if b, err := os.ReadFile(s.fs.path(dir + s.unit())); err == nil && strings.Contains(string(b), want) {
			return dir + s.unit()
		}
	}
	return ""
}

func (s *systemd) Uninstall(ctx context.Context) error {
	if !s.fs.exists(s.unitPath()) {
		return nil
	}
	if _, err := s.systemctl(ctx, "disable", "--now", s.unit()); err != nil {
		return err
	}
	if err := s.fs.remove(s.unitPath()); err != nil {
		return err
	}
	_, err := s.systemctl(ctx, "daemon-reload")
	return err
}

func (s *systemd) Start(ctx context.Context) error {
	_, err := s.systemctl(ctx, "start", s.unit())
	return err
}

func (s *systemd) Stop(ctx context.Context) error {
	_, err := s.systemctl(ctx, "stop", s.unit())
	return err
}

func (s *systemd) Status(ctx context.Context) (Status, error) {
	exe, _ := s.cfg.executable()
	if !s.fs.exists(s.unitPath()) && s.packagedUnit(exe) == "" {
		return NotInstalled, nil
	}
	// is-active exits non-zero for anything but "active": read the word.
	out, _ := s.run(ctx, "systemctl", "is-active", s.unit())
	switch strings.TrimSpace(string(out)) {
	case "active", "reloading", "deactivating":
		return Running, nil
	case "inactive", "failed", "activating":
		return Stopped, nil
	}
	return Unknown, fmt.Errorf("service: systemctl is-active %s: %q", s.unit(), out)
}
