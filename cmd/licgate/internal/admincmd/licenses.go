package admincmd

import (
	"flag"
	"fmt"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/admission"
	"github.com/licgate/licgate/cmd/licgate/internal/clikit"
	"github.com/licgate/licgate/licmgr"
)

// LicensesHelp is the help of licenses.
const LicensesHelp = `Per service and feature: seats issued, in use, and who holds them. For
FlexNet and RLM services licgate reads the license server's own status
(lmutil lmstat -a, rlmutil rlmstat -a, run on the gateway) and names the
licgate user and device behind each checkout; holders that came another
way show as the server reports them (user@host). For the other managers,
or when the status cannot be read, the seats are licgate's own sessions on
the ports that hold seats (TOTAL "-").`

func SetupLicenses(fs *flag.FlagSet) clikit.RunFunc {
	return func(e *clikit.Env, _ []string) error {
		return clikit.Listing(e, func(c *adminapi.Client) ([]admission.ServiceLicenses, error) {
			var out []admission.ServiceLicenses
			err := c.Do(e.Ctx, "GET", "/api/v1/licenses", nil, &out)
			return out, err
		}, func(ls []admission.ServiceLicenses) error {
			tw := clikit.NewTable(e.Stdout, "SERVICE", "FEATURE", "TOTAL", "IN USE", "HOLDER", "SERVER USER", "SINCE", "FROM")
			now := time.Now()
			for _, l := range ls {
				for _, f := range l.Features {
					total := "-"
					if f.Total >= 0 {
						total = fmt.Sprint(f.Total)
					}
					if len(f.Holders) == 0 {
						tw.Row(l.Service, f.Name, total, f.InUse, "", "", "", l.Source)
					}
					for _, h := range f.Holders {
						who := "(not through licgate)"
						if h.User != "" {
							who = h.User + "/" + h.Device
						}
						tw.Row(l.Service, f.Name, total, f.InUse, who, h.Server, licmgr.Ago(now.Sub(h.Since)), l.Source)
					}
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, l := range ls {
				if l.Error != "" {
					fmt.Fprintf(e.Stdout, "%s: the license server's status was not read (%s); licgate's sessions shown\n", l.Service, l.Error)
				}
				for _, f := range l.Findings {
					fmt.Fprintf(e.Stdout, "%s: %s\n", l.Service, f)
				}
			}
			return nil
		})
	}
}
