// Package acl owns licgate's License Access Permissions: services, groups,
// an ordered list of rules (first match wins, default deny), time windows
// in the office time zone, from/until dates, and session caps (per device,
// per user, and shared pools per rule, group or service).
//
// It does no I/O and reads no clock: callers pass the time, the current
// session counts, the user's disabled flag and last portal sign-in in a
// Request. Compile validates a policy and builds an Engine whose Decide is
// allocation-free; Explain takes the same Request, walks the rules the
// plain way and says why, and always reaches Decide's decision.
//
// Typical usage:
//
//	pol, err := acl.Parse("policy.yaml", data)   // errors name file:line
//	eng, warnings, err := acl.Compile(pol)       // also runs the policy's own tests
//	req := acl.Request{User: "alice", Device: "laptop", Service: "codemeter", Time: now, Counts: counts,
//		LastSignIn: lastSignIn, UserDisabled: disabled}
//	d := eng.Decide(req)
//	if !d.Allow { log(d.Kind, d.Reason) }   // d.Kind.Grace(): hours or sign-in window ran out
//	fmt.Println(eng.Explain(req).Text)
//
// A policy file:
//
//	timezone: Europe/Berlin
//	services:
//	  codemeter: {max_sessions: 8}          # home-office pool: 8 of the 10 seats
//	groups:
//	  architects: [alice, bob]
//	  interns: {members: [carol], max_sessions: 2}
//	  staff: [group:architects, group:interns]
//	rules:
//	  - {action: deny, who: [user:mallory]}
//	  - {action: allow, who: [group:architects], services: [codemeter]}
//	  - {action: allow, who: [group:interns], hours: ["Mon-Fri 08:00-18:00"], until: 2027-03-31}
//	  - {action: allow, who: [group:architects], services: [flexlm], signin: 12h}   # after a portal sign-in
//	tests:
//	  - {user: carol, service: codemeter, at: "2026-12-01T20:00", expect: deny}
package acl
