// Package dirsync puts the LDAP/AD directory's snapshots in force: the
// directory's groups go into the policy (live sessions re-decided, as on
// a reload), users disabled or removed in the directory are disabled in
// licgate (their sessions cut), and re-enabled when the directory
// enables them again (only those it disabled). Package directory reads
// the snapshots and holds back mass changes; this package decides what
// they do.
//
// Typical usage:
//
//	s := dirsync.New(dirsync.Deps{Directory: dcfg, Users: st, Disabler: ids, Policy: adm, SetGroups: setGroups, ...})
//	go s.Run(ctx, interval)
//	st := s.Status() // nil without a directory (a nil *Sync)
package dirsync
