package identity

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/cluster"
	"github.com/licgate/licgate/session"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/tunnel"
)

// AddDevice creates a device for user. With publicKey empty, a key pair
// is generated and the profile returned; the private key is not kept.
func (m *Manager) AddDevice(ctx context.Context, user, name, publicKey string) (adminapi.DeviceResult, error) {
	priv, publicKey, err := DeviceKey(publicKey)
	if err != nil {
		return adminapi.DeviceResult{}, fmt.Errorf("identity: add device %s/%s: %w", user, name, err)
	}
	d, err := m.addDevice(ctx, store.NewDevice{User: user, Name: name, PublicKey: publicKey}, -1)
	if err != nil {
		return adminapi.DeviceResult{}, err
	}
	return m.DeviceResult(d, priv), nil
}

// AddDeviceWithin is AddDevice with the store's atomic device limit: the
// store counts and adds in one transaction, so parallel requests never
// pass max (store.ErrLimit). nd.PublicKey must be canonical (DeviceKey).
func (m *Manager) AddDeviceWithin(ctx context.Context, nd store.NewDevice, max int) (store.Device, error) {
	return m.addDevice(ctx, nd, max)
}

// addDevice adds nd (within max devices of its user unless max < 0),
// configures its peer and tells the others.
func (m *Manager) addDevice(ctx context.Context, nd store.NewDevice, max int) (store.Device, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var d store.Device
	var err error
	if max < 0 {
		d, err = m.d.Store.AddDevice(ctx, nd, m.d.Settings().Pool)
	} else {
		d, err = m.d.Store.AddDeviceWithin(ctx, nd, m.d.Settings().Pool, max)
	}
	if err != nil {
		return store.Device{}, err
	}
	if err := m.syncPeers(ctx); err != nil {
		return store.Device{}, fmt.Errorf("identity: add device %s/%s: %w", nd.User, nd.Name, err)
	}
	m.log.Info("device added", slog.String("user", nd.User), slog.String("device", nd.Name), slog.String("address", d.Address.String()))
	m.notify(cluster.KindDevices, nd.User, nd.Name)
	m.d.Audit.Event(audit.ActorOf(ctx), "device.add", fmt.Sprintf("%s/%s %s", nd.User, nd.Name, d.Address))
	return d, nil
}

// DeviceKey checks a supplied public key, or generates a key pair when
// publicKey is empty (the private key is then returned, to be shown
// once). Errors wrap store.ErrInvalid.
func DeviceKey(publicKey string) (priv tunnel.Key, pub string, err error) {
	if publicKey != "" {
		k, err := tunnel.ParsePublicKey(publicKey)
		if err != nil {
			return priv, "", fmt.Errorf("%w: public key: %w", store.ErrInvalid, err)
		}
		return priv, k.String(), nil // only the canonical spelling is stored
	}
	if priv, err = tunnel.GenerateKey(); err != nil {
		return priv, "", err
	}
	return priv, priv.PublicKey().String(), nil
}

// DeviceResult carries the profile when licgate made the key pair (priv
// is not zero).
func (m *Manager) DeviceResult(d store.Device, priv tunnel.Key) adminapi.DeviceResult {
	res := adminapi.DeviceResult{Device: d}
	if priv != (tunnel.Key{}) {
		p := m.Profile(d, priv)
		res.Profile = &p
		res.ProfileText = p.String()
	}
	return res
}

// Profile renders a device's client profile.
func (m *Manager) Profile(d store.Device, priv tunnel.Key) tunnel.Profile {
	s := m.d.Settings()
	ep := s.Endpoint
	if _, _, err := net.SplitHostPort(ep); err != nil {
		ep = net.JoinHostPort(ep, strconv.Itoa(m.d.Peers.ListenPort()))
	}
	return tunnel.Profile{
		PrivateKey:          priv,
		Address:             netip.PrefixFrom(d.Address, d.Address.BitLen()),
		MTU:                 s.MTU,
		PeerPublicKey:       m.d.Peers.PublicKey(),
		Endpoint:            ep,
		AllowedIPs:          []netip.Prefix{netip.PrefixFrom(s.Gateway, s.Gateway.BitLen())},
		PersistentKeepalive: int(s.Keepalive.Seconds()),
	}
}

// Devices lists devices (revoked ones too when all is set).
func (m *Manager) Devices(ctx context.Context, all bool) ([]store.Device, error) {
	return m.d.Store.Devices(ctx, all)
}

// RevokeDevice removes the device's WireGuard peer and cuts its live
// sessions at once (the license server sees the connections close). It
// returns the number of sessions cut.
func (m *Manager) RevokeDevice(ctx context.Context, user, name string) (int, error) {
	m.mu.Lock()
	d, err := m.d.Store.RevokeDevice(ctx, user, name)
	if err != nil {
		m.mu.Unlock()
		return 0, err
	}
	m.notify(cluster.KindRevoke, user, name) // the others cut theirs meanwhile
	cut, err := m.cutAndSync(ctx, session.EndRevoked, ofDevice(d.ID))
	if err != nil {
		return 0, fmt.Errorf("identity: revoke device %s/%s: %w", user, name, err)
	}
	m.log.Info("device revoked", slog.String("user", user), slog.String("device", name), slog.Int("sessions_cut", cut))
	m.d.Audit.Event(audit.ActorOf(ctx), "device.revoke", fmt.Sprintf("%s/%s sessions_cut=%d", user, name, cut))
	return cut, nil
}

// RekeyDevice gives a device a new key pair (or the given public key):
// the old key stops working at once (its sessions cut, the FIN delivered,
// then its peer replaced) and the new profile is returned, to be shown once.
func (m *Manager) RekeyDevice(ctx context.Context, user, name, publicKey string) (adminapi.DeviceResult, error) {
	priv, publicKey, err := DeviceKey(publicKey)
	if err != nil {
		return adminapi.DeviceResult{}, fmt.Errorf("identity: rekey device %s/%s: %w", user, name, err)
	}
	m.mu.Lock()
	d, err := m.d.Store.RekeyDevice(ctx, user, name, publicKey)
	if err != nil {
		m.mu.Unlock()
		return adminapi.DeviceResult{}, err
	}
	m.notify(cluster.KindDevices, user, name)
	cut, err := m.cutAndSync(ctx, session.EndRekeyed, ofDevice(d.ID))
	if err != nil {
		return adminapi.DeviceResult{}, fmt.Errorf("identity: rekey device %s/%s: %w", user, name, err)
	}
	res := m.DeviceResult(d, priv)
	m.log.Info("device rekeyed", slog.String("user", user), slog.String("device", name), slog.Int("sessions_cut", cut))
	m.d.Audit.Event(audit.ActorOf(ctx), "device.rekey", fmt.Sprintf("%s/%s sessions_cut=%d", user, name, cut))
	return res, nil
}
