// Package office is what IT does once per office and once per person:
// invite people (a single-use enrolment link each, sent by e-mail through
// the office's SMTP server, or printed and written to a CSV) and import
// users from a CSV. The CLI (`licgate invite`, `licgate user import`)
// parses flags and calls it.
//
// Typical usage:
//
//	err := office.Invite(ctx, office.InviteOptions{Config: cfg, Client: c, All: true,
//		Device: "home", Stdout: os.Stdout, Stderr: os.Stderr})
package office
