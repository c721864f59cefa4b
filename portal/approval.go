package portal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/licgate/licgate/enroll"
	"github.com/licgate/licgate/mail"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/tunnel"
)

// needsApproval says whether user's sign-in enrolment waits for an admin.
func (p *Portal) needsApproval(user string) bool {
	need := p.d.Settings().NeedsApproval
	if need == nil {
		return false
	}
	var groups []string
	if p.d.GroupsOf != nil {
		groups = p.d.GroupsOf(user)
	}
	return need(groups)
}

// requestDevice records the device as pending (its name, key and address
// reserved, no peer), mails the admins, and returns the profile with the
// time the request ends: the person imports it now (the private key, made
// here, is shown once and never stored) and it connects once approved.
func (p *Portal) requestDevice(ctx context.Context, user, device, publicKey string, priv tunnel.Key) (enroll.Result, error) {
	s := p.d.Settings()
	until := p.d.Now().Add(s.ApprovalTTL)
	d, err := p.d.Identities.RequestDevice(ctx, store.NewDevice{User: user, Name: device, PublicKey: publicKey}, s.MaxDevices, s.MaxPending, until)
	switch {
	case errors.Is(err, store.ErrPendingLimit):
		p.log.Warn("sign-in enrolment refused: too many requests wait for approval", slog.String("user", user),
			slog.String("device", device), slog.Int("max_pending", s.MaxPending))
		return enroll.Result{}, fmt.Errorf("%w: %w", enroll.ErrTooManyPending, err)
	case errors.Is(err, store.ErrLimit):
		p.log.Info("sign-in enrolment refused: device limit", slog.String("user", user), slog.String("device", device),
			slog.Int("max_devices", s.MaxDevices))
		return enroll.Result{}, fmt.Errorf("%w: %w", enroll.ErrDeviceLimit, err)
	case err != nil && errors.Is(err, store.ErrExists) && priv == (tunnel.Key{}) && strings.Contains(err.Error(), "public key"):
		return enroll.Result{}, fmt.Errorf("%w: %w", enroll.ErrBadKey, err)
	case err != nil:
		return enroll.Result{}, err
	}
	p.notifyAdmins(ctx, d)
	res := p.d.Identities.DeviceResult(d, priv)
	return enroll.Result{User: user, Device: device, Gateway: s.TunnelAddress, Profile: res.Profile, ProfileText: res.ProfileText,
		Pending: d.Pending}, nil
}

// notifyAdmins mails Settings.Notify about the request d. A mail that
// cannot be sent is logged: the request stands, and the queue shows it.
func (p *Portal) notifyAdmins(ctx context.Context, d store.Device) {
	s := p.d.Settings()
	if len(s.Notify) == 0 || p.d.Mail == nil {
		return
	}
	email := ""
	if us, err := p.d.Store.Users(ctx); err == nil {
		for _, u := range us {
			if u.Name == d.User {
				email = u.Email
			}
		}
	}
	msg, err := mail.Approval(mail.ApprovalData{To: s.Notify, Organization: s.Organization, User: d.User, Address: email,
		Device: d.Name, PublicKey: d.PublicKey, TunnelIP: d.Address.String(), Requested: d.Created, Expires: *d.Pending,
		ConsoleURL: s.ConsoleURL})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		err = p.d.Mail(ctx, msg)
	}
	if err != nil {
		p.log.Error("device request: mail to the admins failed (the request waits in `licgate device pending`)",
			slog.String("user", d.User), slog.String("device", d.Name), slog.String("err", err.Error()))
		return
	}
	p.log.Info("device request: admins mailed", slog.String("user", d.User), slog.String("device", d.Name), slog.Int("to", len(s.Notify)))
}
