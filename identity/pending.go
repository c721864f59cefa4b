package identity

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/cluster"
	"github.com/licgate/licgate/store"
)

// Devices waiting for an admin's approval (sign-in enrolment with
// signin.enrol.approval). A pending device holds its name, key and
// address in the store, so the profile shown at enrolment is the one
// that works after approval, but it is no active device: it is not in the
// snapshot and has no peer until ApproveDevice.

// RequestDevice records nd as pending until until, within max devices of
// its user (pending ones included) and maxPending requests in all
// (store.ErrLimit, store.ErrPendingLimit). No peer is added.
func (m *Manager) RequestDevice(ctx context.Context, nd store.NewDevice, max, maxPending int, until time.Time) (store.Device, error) {
	d, err := m.d.Store.AddPendingDevice(ctx, nd, m.d.Settings().Pool, max, maxPending, until)
	if err != nil {
		return store.Device{}, err
	}
	m.log.Info("device waits for approval", slog.String("user", d.User), slog.String("device", d.Name),
		slog.String("address", d.Address.String()), slog.Time("until", until))
	m.d.Audit.Event(audit.ActorOf(ctx), "device.request", fmt.Sprintf("%s/%s %s until %s", d.User, d.Name, d.Address, until.Format(time.RFC3339)))
	return d, nil
}

// PendingDevices lists the devices waiting for approval (ended requests
// too, until the next sweep removes them).
func (m *Manager) PendingDevices(ctx context.Context) ([]store.Device, error) {
	return m.d.Store.PendingDevices(ctx)
}

// ApproveDevice makes the pending device user/name active: from then on
// its peer is configured and it may connect, on every gateway.
// store.ErrNotFound, store.ErrExpired.
func (m *Manager) ApproveDevice(ctx context.Context, user, name string) (store.Device, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, err := m.d.Store.ApproveDevice(ctx, user, name)
	if err != nil {
		return store.Device{}, err
	}
	if err := m.syncPeers(ctx); err != nil {
		return store.Device{}, fmt.Errorf("identity: approve device %s/%s: %w", user, name, err)
	}
	m.log.Info("device approved", slog.String("user", user), slog.String("device", name), slog.String("address", d.Address.String()))
	m.notify(cluster.KindDevices, user, name)
	m.d.Audit.Event(audit.ActorOf(ctx), "device.approve", fmt.Sprintf("%s/%s %s", user, name, d.Address))
	return d, nil
}

// DenyDevice removes the pending device user/name; its name, key and
// address are free at once. store.ErrNotFound.
func (m *Manager) DenyDevice(ctx context.Context, user, name string) (store.Device, error) {
	d, err := m.d.Store.DenyDevice(ctx, user, name)
	if err != nil {
		return store.Device{}, err
	}
	m.log.Info("device denied", slog.String("user", user), slog.String("device", name))
	m.d.Audit.Event(audit.ActorOf(ctx), "device.deny", fmt.Sprintf("%s/%s %s", user, name, d.Address))
	return d, nil
}

// ExpirePending removes the requests whose time ran out, each audited
// (device.request.expire), and returns how many went.
func (m *Manager) ExpirePending(ctx context.Context) int {
	gone, err := m.d.Store.ExpirePending(ctx)
	if err != nil {
		m.log.Error("expire pending devices", slog.String("err", err.Error()))
		return 0
	}
	for _, d := range gone {
		m.log.Info("device request expired", slog.String("user", d.User), slog.String("device", d.Name))
		m.d.Audit.Event("licgate", "device.request.expire", fmt.Sprintf("%s/%s %s requested %s", d.User, d.Name, d.Address, d.Created.Format(time.RFC3339)))
	}
	return len(gone)
}

// pendingSweep is how often ExpireDue sweeps ended requests: a minute,
// or a tenth of signin.enrol.approval_ttl when that is shorter (tests).
func (m *Manager) pendingSweep() time.Duration {
	if ttl := m.d.Settings().ApprovalTTL; ttl > 0 && ttl/10 < time.Minute {
		return ttl / 10
	}
	return time.Minute
}

// sweepPending runs ExpirePending when pendingSweep has passed since the
// last sweep (ExpireDue runs every enforcement interval, and a write
// transaction that often would be waste).
func (m *Manager) sweepPending(ctx context.Context) {
	now := m.d.Now()
	last := time.Unix(0, m.lastSweep.Load())
	if now.Sub(last) < m.pendingSweep() {
		return
	}
	m.lastSweep.Store(now.UnixNano())
	m.ExpirePending(ctx)
}
