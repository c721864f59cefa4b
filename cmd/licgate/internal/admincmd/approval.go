package admincmd

import (
	"flag"
	"fmt"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/adminapi/approval"
	"github.com/licgate/licgate/cmd/licgate/internal/clikit"
	"github.com/licgate/licgate/store"
)

// Devices that wait for an admin's approval (signin.enrol.approval:
// required): licgate device pending | approve | deny.

// ApprovalHelp is the help of device pending, approve and deny.
const ApprovalHelp = `Sign-in enrolment with signin.enrol.approval: required makes devices that
wait for an admin: the person has their profile already, but the device
cannot connect until it is approved. Unanswered, a request ends after
signin.enrol.approval_ttl (default 72h). Denying frees its name, key and
address at once. See docs/signin.md#approval.`

func SetupDevicePending(fs *flag.FlagSet) clikit.RunFunc {
	return func(e *clikit.Env, _ []string) error {
		return clikit.Listing(e, func(c *adminapi.Client) ([]store.Device, error) { return approval.NewClient(c).Pending(e.Ctx) },
			func(ds []store.Device) error {
				if len(ds) == 0 {
					fmt.Fprintln(e.Stdout, "no device waits for approval")
					return nil
				}
				tw := clikit.NewTable(e.Stdout, "USER", "DEVICE", "ADDRESS", "PUBLIC KEY", "REQUESTED", "ENDS")
				for _, d := range ds {
					tw.Row(d.User, d.Name, d.Address, d.PublicKey, d.Created.Local().Format(time.DateTime), clikit.When(d.Pending))
				}
				return tw.Flush()
			})
	}
}

// SetupDeviceDecide is device approve (approve true) and device deny.
func SetupDeviceDecide(approve bool) func(fs *flag.FlagSet) clikit.RunFunc {
	return func(fs *flag.FlagSet) clikit.RunFunc {
		return func(e *clikit.Env, args []string) error {
			if err := clikit.ValidName("user", args[0]); err != nil {
				return err
			}
			if err := clikit.ValidName("device", args[1]); err != nil {
				return err
			}
			c, err := e.Client()
			if err != nil {
				return err
			}
			ac := approval.NewClient(c)
			if !approve {
				if _, err := ac.Deny(e.Ctx, args[0], args[1]); err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "device %s/%s denied: the request is gone\n", args[0], args[1])
				return nil
			}
			d, err := ac.Approve(e.Ctx, args[0], args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "device %s/%s approved: it connects from %s\n", d.User, d.Name, d.Address)
			return nil
		}
	}
}
