// Package acl owns licgate's License Access Permissions: services, groups,
// ordered rules, time windows, expiry and session caps, compiled into an
// engine whose Decide is pure and allocation-free. It does no I/O and
// reads no clock: the caller passes the time.
//
// Until policies land, the gateway applies one rule: an enabled user's
// devices may use every service.
package acl
