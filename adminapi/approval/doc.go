// Package approval is the admin API's queue of devices that wait for an
// admin (sign-in enrolment with signin.enrol.approval: required): list,
// approve, deny, and the typed client the CLI uses. It is mounted into
// adminapi's handler (adminapi.Options.Mount), so the cross-origin
// protection, the admin roles and the console's CSRF header apply as to
// every other route.
//
//	GET  /api/v1/pending                        the requests, oldest first
//	POST /api/v1/pending/{user}/{name}/approve  the device becomes active; its peer is added
//	POST /api/v1/pending/{user}/{name}/deny     the request and its reservation go
//
// Typical usage:
//
//	h := adminapi.Handler(b, adminapi.Options{Mount: []func(*http.ServeMux){approval.Routes(b)}})
//	ds, err := approval.NewClient(adminapi.NewClient(socket)).Pending(ctx)
package approval
