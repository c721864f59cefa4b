package identity

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/cluster"
	"github.com/licgate/licgate/session"
	"github.com/licgate/licgate/store"
)

// AddUser creates a user.
func (m *Manager) AddUser(ctx context.Context, name, email string) (store.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, err := m.d.Store.AddUser(ctx, name, email)
	if err != nil {
		return u, err
	}
	m.log.Info("user added", slog.String("user", name))
	m.notify(cluster.KindUsers, name, "")
	m.d.Audit.Event(audit.ActorOf(ctx), "user.add", name)
	return u, nil
}

// Users lists users.
func (m *Manager) Users(ctx context.Context) ([]store.User, error) { return m.d.Store.Users(ctx) }

// SetUserDisabled disables (or enables) a user. Disabling cuts the user's
// live sessions at once and refuses new ones. It returns the sessions cut.
func (m *Manager) SetUserDisabled(ctx context.Context, name string, disabled bool) (int, error) {
	m.mu.Lock()
	if err := m.d.Store.SetUserDisabled(ctx, name, disabled); err != nil {
		m.mu.Unlock()
		return 0, err
	}
	cut, err := m.cutAndSync(ctx, session.EndDisabled, func(_, _ Snapshot) func(*session.Session) bool {
		return func(s *session.Session) bool { return disabled && s.User == name }
	})
	if err != nil {
		return 0, fmt.Errorf("identity: disable user %s: %w", name, err)
	}
	m.log.Info("user updated", slog.String("user", name), slog.Bool("disabled", disabled), slog.Int("sessions_cut", cut))
	m.notify(map[bool]cluster.Kind{true: cluster.KindDisable, false: cluster.KindUsers}[disabled], name, "")
	m.d.Audit.Event(audit.ActorOf(ctx), map[bool]string{true: "user.disable", false: "user.enable"}[disabled], fmt.Sprintf("%s sessions_cut=%d", name, cut))
	return cut, nil
}

// SetUserExpiry sets (nil: clears) when a user's access ends. A date in
// the past takes effect at once.
func (m *Manager) SetUserExpiry(ctx context.Context, name string, expires *time.Time) error {
	m.mu.Lock()
	if err := m.d.Store.SetUserExpiry(ctx, name, expires); err != nil {
		m.mu.Unlock()
		return err
	}
	if _, err := m.cutAndSync(ctx, session.EndExpired, gone); err != nil {
		return err
	}
	m.notify(cluster.KindUsers, name, "")
	m.d.Audit.Event(audit.ActorOf(ctx), "user.expiry", fmt.Sprintf("%s %v", name, fmtExpiry(expires)))
	return nil
}

// SetDeviceExpiry sets (nil: clears) when a device stops working.
func (m *Manager) SetDeviceExpiry(ctx context.Context, user, name string, expires *time.Time) error {
	m.mu.Lock()
	if err := m.d.Store.SetDeviceExpiry(ctx, user, name, expires); err != nil {
		m.mu.Unlock()
		return err
	}
	if _, err := m.cutAndSync(ctx, session.EndExpired, gone); err != nil {
		return err
	}
	m.notify(cluster.KindDevices, user, name)
	m.d.Audit.Event(audit.ActorOf(ctx), "device.expiry", fmt.Sprintf("%s/%s %v", user, name, fmtExpiry(expires)))
	return nil
}

func fmtExpiry(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Format(time.RFC3339)
}

// ExpireDue removes devices whose (or whose user's) expiry has passed:
// their sessions are cut, then their peers go; and, now and then, device
// requests whose approval time ran out (sweepPending). The enforcement loop
// calls it; it returns the sessions cut.
func (m *Manager) ExpireDue(ctx context.Context) int {
	m.sweepPending(ctx)
	now := m.d.Now()
	var due []int64
	for _, id := range m.Snapshot() {
		if id.Expires != nil && !now.Before(*id.Expires) {
			due = append(due, id.DeviceID)
		}
	}
	if len(due) == 0 {
		return 0
	}
	m.mu.Lock()
	cut, err := m.cutAndSync(ctx, session.EndExpired, func(_, _ Snapshot) func(*session.Session) bool {
		return func(s *session.Session) bool { return slices.Contains(due, s.DeviceID) }
	})
	if err != nil {
		m.log.Error("expire devices", slog.String("err", err.Error()))
		return cut
	}
	m.log.Info("devices expired: peers removed", slog.Int("devices", len(due)), slog.Int("sessions_cut", cut))
	return cut
}
