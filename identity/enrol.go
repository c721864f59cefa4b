package identity

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/cluster"
	"github.com/licgate/licgate/enroll"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/tunnel"
)

// The Manager is the public enrolment page's backend.
var _ enroll.Backend = (*Manager)(nil)

// CreateEnrollLink makes a single-use link that enrols device for user:
// opening it shows a form; submitting the form creates the device (with a
// key pair made then, or the user's own public key) and shows the
// profile, QR code and helpers. Only a hash of the token is stored.
func (m *Manager) CreateEnrollLink(ctx context.Context, user, device string, ttl time.Duration) (string, time.Time, error) {
	s := m.d.Settings()
	if !s.PublicListen {
		return "", time.Time{}, fmt.Errorf("identity: %w", adminapi.ErrNoPublicListener)
	}
	if ttl <= 0 {
		ttl = s.LinkTTL
	}
	if _, err := m.d.Store.Device(ctx, user, device); err == nil {
		return "", time.Time{}, fmt.Errorf("identity: device %s/%s: %w", user, device, store.ErrExists)
	}
	b := make([]byte, 32)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	expires := time.Now().Add(ttl)
	if err := m.d.Store.CreateEnrollment(ctx, enroll.TokenHash(token), user, device, expires); err != nil {
		return "", time.Time{}, err
	}
	m.d.Audit.Event(audit.ActorOf(ctx), "enroll.link", fmt.Sprintf("%s/%s expires %s", user, device, expires.UTC().Format(time.RFC3339)))
	return m.d.PublicURL() + "/enroll/" + token, expires, nil
}

// Peek checks an enrolment link without using it.
func (m *Manager) Peek(ctx context.Context, tokenHash string) (store.Enrollment, error) {
	return m.d.Store.PeekEnrollment(ctx, tokenHash)
}

// Enrol uses an enrolment link: the claim and the device are one
// transaction, so a device that cannot be created leaves the link valid.
func (m *Manager) Enrol(ctx context.Context, tokenHash, from, publicKey string) (enroll.Result, error) {
	priv, publicKey, err := DeviceKey(publicKey)
	if err != nil {
		return enroll.Result{}, fmt.Errorf("identity: enrol: %w: %w", enroll.ErrBadKey, err)
	}
	s := m.d.Settings()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, d, err := m.d.Store.ClaimEnrollmentAndAddDevice(ctx, tokenHash, from, store.NewDevice{PublicKey: publicKey}, s.Pool)
	if err != nil {
		if errors.Is(err, store.ErrExists) && publicKey != "" {
			return enroll.Result{}, fmt.Errorf("identity: enrol: %w: %w", enroll.ErrBadKey, err)
		}
		return enroll.Result{}, fmt.Errorf("identity: enrol: %w", err)
	}
	if err := m.syncPeers(ctx); err != nil {
		return enroll.Result{}, fmt.Errorf("identity: enrol %s/%s: %w", e.User, e.Device, err)
	}
	m.notify(cluster.KindDevices, e.User, e.Device)
	actor := "enrolment link from " + from
	m.log.Info("device enrolled", slog.String("user", e.User), slog.String("device", e.Device), slog.String("from", from))
	res := enroll.Result{User: e.User, Device: e.Device, Gateway: s.Gateway.String()}
	if priv == (tunnel.Key{}) {
		// The user keeps their private key: show what goes around it.
		p := m.Profile(d, tunnel.Key{})
		res.ProfileText = strings.Replace(p.String(), "PrivateKey = "+tunnel.Key{}.String(), "# PrivateKey = (your own private key)", 1)
		m.d.Audit.Event(actor, "device.enrolled", fmt.Sprintf("%s/%s with own key by %s", e.User, e.Device, from))
		return res, nil
	}
	dr := m.DeviceResult(d, priv)
	res.Profile, res.ProfileText = dr.Profile, dr.ProfileText
	m.d.Audit.Event(actor, "device.enrolled", fmt.Sprintf("%s/%s by %s", e.User, e.Device, from))
	return res, nil
}
