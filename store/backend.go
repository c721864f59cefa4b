package store

import (
	"context"
	"net/netip"
	"time"
)

// Backend is everything licgate asks of its state, so that another
// database can stand in for another: store/sqlite (the default),
// store/bolt (the router build) and store/postgres (a site with many
// gateways) implement it, and store/storetest holds them to it.
//
// Rules for every method, unless its comment says otherwise:
//   - Errors match the sentinels of this package with errors.Is: ErrNotFound
//     (no such user, device, link), ErrExists (unique name or key taken),
//     ErrInvalid (bad name, key, email or argument), ErrExhausted,
//     ErrExpired, ErrUsed, ErrClosed, ErrStateDir (storage full, read-only
//     or failing); other errors are storage failures.
//   - Each call is one transaction: it happens completely or not at all,
//     and is durable when it returns nil.
//   - "Active" means not revoked; a revoked device's row is kept.
//   - Times are stored to the millisecond (users, devices, links, DDNS)
//     or microsecond (audit); a returned time is in the local zone.
//   - Safe for concurrent use.
type Backend interface {
	// Close releases the backend. Calls already running finish first;
	// calls after Close, and a second Close, fail with ErrClosed.
	Close() error
	// Version is the schema version (SchemaVersion once opened).
	Version(ctx context.Context) (int, error)

	// AddUser creates a user (ValidName; email empty or with an '@').
	// ErrInvalid, ErrExists.
	AddUser(ctx context.Context, name, email string) (User, error)
	// User returns the user name; ErrNotFound.
	User(ctx context.Context, name string) (User, error)
	// Users lists every user, disabled ones included, ordered by name;
	// none is an empty slice and no error.
	Users(ctx context.Context) ([]User, error)
	// SetUserDisabled disables or re-enables a user; ErrNotFound.
	SetUserDisabled(ctx context.Context, name string, disabled bool) error
	// SetUserExpiry sets, or with nil clears, when the user's access
	// ends; ErrNotFound.
	SetUserExpiry(ctx context.Context, name string, expires *time.Time) error

	// AddDevice records a device for an existing user and gives it the
	// lowest free address of pool (not reserved, not the network or IPv4
	// broadcast address); concurrent adds never share an address.
	// ErrInvalid (name, non-canonical key, pool), ErrNotFound (user),
	// ErrExists (active name of that user, or active key), ErrExhausted.
	AddDevice(ctx context.Context, nd NewDevice, pool Pool) (Device, error)
	// AddDeviceWithin is AddDevice only while nd.User has fewer than max
	// (at least 1) active devices; the count and the add are one
	// transaction, so concurrent calls (from any gateway of a cluster)
	// never leave the user with more than max. ErrLimit at the limit;
	// otherwise AddDevice's errors.
	AddDeviceWithin(ctx context.Context, nd NewDevice, pool Pool, max int) (Device, error)
	// AddPendingDevice records a device that waits for an admin's
	// approval until until (sign-in enrolment with approval): it takes
	// its name, key and address as AddDevice does (so a flood of requests
	// is bounded, never exhausts the pool), but it is not active: Devices,
	// Device, RevokeDevice and the rest leave it out. The user may then
	// have at most max devices, pending ones included (ErrLimit), and all
	// users together at most maxPending pending ones (ErrPendingLimit,
	// which wraps ErrLimit); the counts and the add are one transaction.
	// Otherwise AddDevice's errors.
	AddPendingDevice(ctx context.Context, nd NewDevice, pool Pool, max, maxPending int, until time.Time) (Device, error)
	// PendingDevices lists the pending devices (Pending set), expired
	// ones included until ExpirePending, ordered by user, name and id.
	PendingDevices(ctx context.Context) ([]Device, error)
	// ApproveDevice makes the pending device user/name active, with the
	// address it reserved, and returns it. ErrNotFound (no such pending
	// device), ErrExpired (its request ended: only ExpirePending or
	// DenyDevice remove it).
	ApproveDevice(ctx context.Context, user, name string) (Device, error)
	// DenyDevice removes the pending device user/name and returns it; its
	// name, key and address are free at once. ErrNotFound.
	DenyDevice(ctx context.Context, user, name string) (Device, error)
	// ExpirePending removes every pending device whose request has ended
	// and returns them (none: an empty or nil slice).
	ExpirePending(ctx context.Context) ([]Device, error)
	// AddDevices is AddDevice for many, all or nothing.
	AddDevices(ctx context.Context, nds []NewDevice, pool Pool) ([]Device, error)
	// Devices lists active devices, or all with all, ordered by user,
	// name and id.
	Devices(ctx context.Context, all bool) ([]Device, error)
	// Device returns the active device user/name; ErrNotFound.
	Device(ctx context.Context, user, name string) (Device, error)
	// RevokeDevice revokes the active device user/name and returns it
	// (Revoked set); its address and key become free. ErrNotFound.
	RevokeDevice(ctx context.Context, user, name string) (Device, error)
	// RekeyDevice replaces the active device's public key; its address
	// stays. ErrInvalid (non-canonical key), ErrNotFound, ErrExists.
	RekeyDevice(ctx context.Context, user, name, publicKey string) (Device, error)
	// SetDeviceExpiry sets, or with nil clears, when the active device
	// stops working; ErrNotFound.
	SetDeviceExpiry(ctx context.Context, user, name string, expires *time.Time) error

	// CreateEnrollment records a single-use link for user's device name;
	// only the token's hash is stored. ErrInvalid (device name),
	// ErrNotFound (user), ErrExists (hash).
	CreateEnrollment(ctx context.Context, tokenHash, user, device string, expires time.Time) error
	// ClaimEnrollment uses the link up; ErrNotFound, ErrUsed, ErrExpired.
	ClaimEnrollment(ctx context.Context, tokenHash, from string) (Enrollment, error)
	// ClaimEnrollmentAndAddDevice claims the link and adds its device in
	// one transaction: when the device cannot be created the link stays
	// unused. nd.User and nd.Name default to the link's and must match it
	// when set (ErrInvalid). Errors of ClaimEnrollment and AddDevice.
	ClaimEnrollmentAndAddDevice(ctx context.Context, tokenHash, from string, nd NewDevice, pool Pool) (Enrollment, Device, error)
	// PeekEnrollment checks the link without using it; errors as ClaimEnrollment.
	PeekEnrollment(ctx context.Context, tokenHash string) (Enrollment, error)

	// WriteAudit writes records in order, all or nothing; an unknown
	// Kind is ErrInvalid. An AuditEnd without its start changes nothing.
	WriteAudit(ctx context.Context, recs []AuditRecord) error
	// CloseOpenSessions ends every open session whose key starts with
	// keyPrefix ("": every open session) at at (never before its start)
	// with reason, and says how many it ended. A gateway of a cluster
	// closes only its own (its keys start with its ID and a slash): the
	// others' open sessions are live.
	CloseOpenSessions(ctx context.Context, keyPrefix string, at time.Time, reason string) (int64, error)
	// AuditSessions returns sessions overlapping [from, to), oldest first.
	AuditSessions(ctx context.Context, from, to time.Time) ([]AuditSession, error)
	// AuditDenials returns refusals in [from, to), newest first, at most limit.
	AuditDenials(ctx context.Context, from, to time.Time, limit int) ([]AuditDenialRow, error)
	// AuditEvents returns admin events in [from, to), newest first, at most limit.
	AuditEvents(ctx context.Context, from, to time.Time, limit int) ([]AuditEventRow, error)
	// PruneAudit deletes ended sessions, denials and events older than
	// before and says how many rows went; open sessions stay.
	PruneAudit(ctx context.Context, before time.Time) (int64, error)

	// DDNSAddr is the address provider last accepted for family
	// ("ipv4"/"ipv6"); the zero Addr and no error when none.
	DDNSAddr(ctx context.Context, provider, family string) (netip.Addr, error)
	// SetDDNSAddr records that provider accepted addr for family at at.
	SetDDNSAddr(ctx context.Context, provider, family string, addr netip.Addr, at time.Time) error
	// DDNSHold is provider's persisted hold; the zero DDNSHold and no
	// error when none.
	DDNSHold(ctx context.Context, provider string) (DDNSHold, error)
	// SetDDNSHold replaces provider's hold, stamping Updated.
	SetDDNSHold(ctx context.Context, provider string, h DDNSHold) error
	// ClearDDNSHold removes provider's hold; none is not an error.
	ClearDDNSHold(ctx context.Context, provider string) error

	// NextSessionEpoch returns a number greater than any it returned
	// before on this database (from 1), durable before it returns: call
	// once per gateway start and number sessions epoch<<32 | counter.
	// ErrExhausted after 2^32-1.
	NextSessionEpoch(ctx context.Context) (uint32, error)
}
