package service

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// RCScript returns the FreeBSD rc.d script for cfg. daemon(8) supervises
// licgate: it restarts it after a crash (-r) and sends its output to syslog
// (-S) under the service's name.
func RCScript(cfg Config, executable string) string {
	name := cfg.name()
	args := cfg.args()
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = shellQuote(a)
	}
	return fmt.Sprintf(`#!/bin/sh
#
# PROVIDE: %[1]s
# REQUIRE: LOGIN NETWORKING
# KEYWORD: shutdown
#
# %[2]s
# Add %[1]s_enable="YES" to /etc/rc.conf (licgate service install does it).

. /etc/rc.subr

name=%[1]s
rcvar=%[1]s_enable
load_rc_config $name

: ${%[1]s_enable:="NO"}

pidfile="/var/run/${name}.pid"
command="/usr/sbin/daemon"
command_args="-P ${pidfile} -r -S -T ${name} %[3]s %[4]s"

run_rc_command "$1"
`, name, cfg.description(), shellQuote(executable), strings.Join(quoted, " "))
}

// shellQuote quotes s for /bin/sh inside the double-quoted command_args.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// rcd drives FreeBSD's service(8) and sysrc(8).
type rcd struct {
	cfg Config
	fs  fsys
	run runFunc
}

func (r *rcd) scriptPath() string { return "/usr/local/etc/rc.d/" + r.cfg.name() }

func (r *rcd) cmd(ctx context.Context, name string, args ...string) error {
	r.cfg.log().Info("service: "+name, "args", args)
	out, err := r.run(ctx, name, args...)
	if err != nil {
		return cmdError(name, args, out, err)
	}
	return nil
}

func (r *rcd) Install(ctx context.Context) error {
	exe, err := r.cfg.executable()
	if err != nil {
		return err
	}
	if err := r.fs.mkdirPrivate(r.cfg.paths().StateDir); err != nil {
		return err
	}
	if err := r.fs.writeFile(r.scriptPath(), []byte(RCScript(r.cfg, exe)), 0o755); err != nil {
		return err
	}
	if err := r.cmd(ctx, "sysrc", r.cfg.name()+"_enable=YES"); err != nil {
		return err
	}
	return r.cmd(ctx, "service", r.cfg.name(), "restart")
}

func (r *rcd) Uninstall(ctx context.Context) error {
	if !r.fs.exists(r.scriptPath()) {
		return nil
	}
	if err := r.Stop(ctx); err != nil {
		return err
	}
	if err := r.cmd(ctx, "sysrc", "-x", r.cfg.name()+"_enable"); err != nil {
		return err
	}
	return r.fs.remove(r.scriptPath())
}

func (r *rcd) Start(ctx context.Context) error {
	if st, err := r.Status(ctx); err == nil && st == Running {
		return nil
	}
	return r.cmd(ctx, "service", r.cfg.name(), "start")
}

func (r *rcd) Stop(ctx context.Context) error {
	if st, err := r.Status(ctx); err == nil && st != Running {
		return nil
	}
	return r.cmd(ctx, "service", r.cfg.name(), "stop")
}

func (r *rcd) Status(ctx context.Context) (Status, error) {
	if !r.fs.exists(r.scriptPath()) {
		return NotInstalled, nil
	}
	// rc.subr's status exits 1 when the pidfile's process is gone.
	_, err := r.run(ctx, "service", r.cfg.name(), "status")
	var exit *exec.ExitError
	switch {
	case err == nil:
		return Running, nil
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return Stopped, nil
	}
	return Unknown, fmt.Errorf("service: service %s status: %w", r.cfg.name(), err)
}
