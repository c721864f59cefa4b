package main

import (
	"flag"

	"github.com/licgate/licgate/doctor"

	"github.com/licgate/licgate/cmd/licgate/internal/clikit"
)

// setupDoctor is `licgate doctor` (the checks are package doctor).
func setupDoctor(fs *flag.FlagSet) clikit.RunFunc {
	cfgPath := fs.String("c", defaultConfig, "config `FILE`")
	socket := fs.String("socket", "", "admin API socket `PATH` (overrides the config; also $LICGATE_SOCKET)")
	quiet := fs.Bool("quiet", false, "print only problems; the exit code says it all (for health checks such as keepalived)")
	return func(e *clikit.Env, _ []string) error {
		d := &doctor.Doctor{Ctx: e.Ctx, ConfigPath: *cfgPath, Socket: *socket}
		d.Run()
		return d.Report(e.Stdout, *quiet)
	}
}
