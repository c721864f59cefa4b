package main

import (
	"flag"

	"github.com/licgate/licgate/doctor"
)

// setupDoctor is `licgate doctor` (the checks are package doctor).
func setupDoctor(fs *flag.FlagSet) runFunc {
	cfgPath := fs.String("c", defaultConfig, "config `FILE`")
	socket := fs.String("socket", "", "admin API socket `PATH` (overrides the config; also $LICGATE_SOCKET)")
	quiet := fs.Bool("quiet", false, "print only problems; the exit code says it all (for health checks such as keepalived)")
	return func(e *env, _ []string) error {
		d := &doctor.Doctor{Ctx: e.ctx, ConfigPath: *cfgPath, Socket: *socket}
		d.Run()
		return d.Report(e.stdout, *quiet)
	}
}
