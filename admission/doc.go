// Package admission decides who may use a license service now: it
// authorizes each connection against the compiled policy (acl) with the
// live counts, re-decides live sessions when the policy, the clock or the
// directory's groups change, explains decisions, keeps the portal
// sign-ins that rules with a signin window ask for, and runs the
// enforcement loop (expiry, windows, vanished peers, audit pruning).
//
// It never calls back up into the gateway: it is given the identity
// snapshot, the session table and, in cluster mode, the other gateways'
// counts (SharedCounts, nil on a single gateway), and returns values.
//
// Typical usage:
//
//	c := admission.New(admission.Deps{Engine: eng, Sessions: table, Identities: ids, Settings: settings})
//	p := &proxy.Proxy{Identify: ids.Identify, Authorize: c.Authorize, ...}
//	go c.Run(ctx) // the enforcement loop
//	n := c.Reevaluate(session.EndPolicy)
package admission
