package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/adminapi/approval"
	"github.com/licgate/licgate/store"
)

// Devices that wait for an admin's approval (signin.enrol.approval:
// required): licgate device pending | approve | deny.

const approvalHelp = `Sign-in enrolment with signin.enrol.approval: required makes devices that
wait for an admin: the person has their profile already, but the device
cannot connect until it is approved. Unanswered, a request ends after
signin.enrol.approval_ttl (default 72h). Denying frees its name, key and
address at once. See docs/signin.md#approval.`

func setupDevicePending(fs *flag.FlagSet) runFunc {
	return func(e *env, _ []string) error {
		return listing(e, func(c *adminapi.Client) ([]store.Device, error) { return approval.NewClient(c).Pending(e.ctx) },
			func(ds []store.Device) error {
				if len(ds) == 0 {
					fmt.Fprintln(e.stdout, "no device waits for approval")
					return nil
				}
				tw := newTable(e.stdout, "USER", "DEVICE", "ADDRESS", "PUBLIC KEY", "REQUESTED", "ENDS")
				for _, d := range ds {
					tw.row(d.User, d.Name, d.Address, d.PublicKey, d.Created.Local().Format(time.DateTime), when(d.Pending))
				}
				return tw.flush()
			})
	}
}

// setupDeviceDecide is device approve (approve true) and device deny.
func setupDeviceDecide(approve bool) func(fs *flag.FlagSet) runFunc {
	return func(fs *flag.FlagSet) runFunc {
		return func(e *env, args []string) error {
			if err := validName("user", args[0]); err != nil {
				return err
			}
			if err := validName("device", args[1]); err != nil {
				return err
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			ac := approval.NewClient(c)
			if !approve {
				if _, err := ac.Deny(e.ctx, args[0], args[1]); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "device %s/%s denied: the request is gone\n", args[0], args[1])
				return nil
			}
			d, err := ac.Approve(e.ctx, args[0], args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "device %s/%s approved: it connects from %s\n", d.User, d.Name, d.Address)
			return nil
		}
	}
}
