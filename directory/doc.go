// Package directory reads users and their groups from LDAP or Active
// Directory, so that policies can name directory groups and a disabled or
// removed account loses its sessions.
//
// A Syncer binds with a service account (StartTLS on ldap://, or ldaps://),
// reads the groups GroupFilter selects, the users UserFilter selects, and
// which of them DisabledFilter marks disabled, all with the paged-results
// control, and resolves nested groups: Active Directory does it on the
// server (LDAP_MATCHING_RULE_IN_CHAIN, 1.2.840.113556.1.4.1941, one query
// per group); for OpenLDAP the groupOfNames graph (member, or memberOf
// from the memberof overlay) is walked here, each group once, so cycles
// end. Group names are the groups' GroupNameAttribute (cn), not DNs.
//
// A failed sync never replaces the last good snapshot: Status says Stale
// and carries the error. A sync that finds no users after one that found
// some (unless AllowEmpty), or that would take rights from more users at
// once than MaxChange allows (vanished, newly disabled, out of a group
// that matters), is refused as ErrSuspicious and held back: Status.Held
// describes it, and Accept puts it in force when an admin says it is
// real. Diff compares two snapshots and says whose sessions to cut.
//
// Typical usage:
//
//	cfg := directory.Config{URL: "ldaps://dc1.corp.example:636", BindDN: "CN=licgate,OU=Service,DC=corp,DC=example",
//		PasswordFile: "/etc/licgate/ldap.pw", BaseDN: "DC=corp,DC=example", Preset: directory.PresetActiveDirectory,
//		GroupFilter: "(&(objectClass=group)(cn=lic-*))"}
//	if err := directory.Validate(cfg); err != nil { ... }
//	s := directory.New(cfg, logger)
//	var prev directory.Snapshot
//	go s.Run(ctx, 5*time.Minute, func(snap directory.Snapshot) {
//		for _, c := range directory.Diff(prev, snap) {
//			if c.CutSessions() { sessions.Revoke(c.Name) }
//		}
//		prev = snap
//	})
//
// Tests run a real slapd (package directorytest); Active Directory's
// in-chain rule is only checked as filter text, since OpenLDAP does not
// implement it (it matches nothing there).
//
// This package imports nothing else from licgate.
package directory
