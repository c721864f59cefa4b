package main

import (
	"errors"
	"flag"
	"os"
	"strings"

	"github.com/licgate/licgate/cmd/licgate/internal/clikit"
	"github.com/licgate/licgate/office"
	"github.com/licgate/licgate/service"
)

func setupSetup(fs *flag.FlagSet) clikit.RunFunc {
	o := &office.SetupOptions{}
	fs.StringVar(&o.ConfigPath, "c", defaultConfig, "config `FILE` to write (or change)")
	fs.StringVar(&o.Upstream, "upstream", "", "the license server, `HOST[:PORT]` (default port: the manager's, 22350 for CodeMeter)")
	fs.StringVar(&o.Manager, "manager", "", "the license manager: `TYPE` codemeter, flexnet, rlm, sentinel-ldk, sentinel-rms or generic (asked in a terminal; every port of it is probed)")
	fs.StringVar(&o.LicenseFile, "license-file", "", "flexnet, rlm: the license server's license `FILE` (linted; its VENDOR/ISV lines give the ports)")
	fs.StringVar(&o.PublicName, "public-name", "", "the office's public `NAME` or address home devices connect to")
	fs.IntVar(&o.Port, "port", 0, "WireGuard UDP `PORT` (default 51820)")
	fs.StringVar(&o.Portmap, "portmap", "", "open the port on the router by UPnP/NAT-PMP/PCP: on or off")
	fs.StringVar(&o.StateDir, "state-dir", "", "state `DIR` (default the platform's: "+service.Paths().StateDir+")")
	fs.StringVar(&o.PublicListen, "public-listen", "", "serve enrolment links on `ADDR` (e.g. :443) for licgate invite")
	fs.StringVar(&o.SMTPHost, "smtp-host", "", "send invitations through the SMTP server `HOST` (smtp.host)")
	fs.IntVar(&o.SMTPPort, "smtp-port", 0, "SMTP `PORT` (default 587 for starttls, 465 for tls, 25 for none)")
	fs.StringVar(&o.SMTPFrom, "smtp-from", "", "invitations' sender, e.g. `\"Office IT <it@example.com>\"`")
	fs.StringVar(&o.SMTPSecurity, "smtp-security", "", "`starttls` (default), tls, or none (a server on this machine only)")
	fs.StringVar(&o.SMTPUser, "smtp-user", "", "SMTP login `NAME` (with --smtp-password-file)")
	fs.StringVar(&o.SMTPPasswordFile, "smtp-password-file", "", "`FILE` holding the SMTP password")
	fs.StringVar(&o.Admin, "admin", "", "enrol `NAME` as the first admin, with a device")
	fs.StringVar(&o.Device, "device", "laptop", "the admin's device `NAME`")
	fs.StringVar(&o.Out, "out", "", "write the admin's bundle with this `PREFIX` (default ./NAME-DEVICE)")
	fs.BoolVar(&o.Yes, "yes", false, "do not ask: use the flags and what the config already has")
	fs.BoolVar(&o.NoService, "no-service", false, "do not install or start the system service")
	return func(e *clikit.Env, _ []string) error {
		o.In = os.Stdin
		if st, err := os.Stdin.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 && !o.Yes {
			o.Interactive = true
		}
		o.Stdout = e.Stdout
		err := office.Setup(e.Ctx, o)
		if errors.Is(err, office.ErrUsage) {
			return clikit.Usagef("%s", strings.TrimPrefix(err.Error(), office.ErrUsage.Error()+": "))
		}
		return err
	}
}
