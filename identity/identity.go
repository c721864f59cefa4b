package identity

import (
	"cmp"
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licgate/licgate/cluster"
	"github.com/licgate/licgate/session"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/tunnel"
)

// Peers is where active devices become WireGuard peers (the tunnel).
// Calls are serialised by the Manager (see LockPeers).
type Peers interface {
	// Peers lists the configured peers.
	Peers() ([]tunnel.PeerStatus, error)
	// AddPeer adds p, or replaces the peer with p's key.
	AddPeer(p tunnel.Peer) error
	// RemovePeer removes the peer; its packets are dropped from then on.
	RemovePeer(k tunnel.Key) error
	// PublicKey and ListenPort go into the devices' profiles.
	PublicKey() tunnel.Key
	ListenPort() int
}

// Sessions is the live session table, as far as cutting goes.
type Sessions interface {
	// Cut ends every session match picks and returns how many.
	Cut(match func(*session.Session) bool, reason string) int
	// WaitGone waits until no session match picks is left, or ctx ends.
	WaitGone(ctx context.Context, match func(*session.Session) bool) bool
}

// Recorder receives audit events (audit.Writer).
type Recorder interface {
	Event(actor, action, detail string)
}

// Settings are the configured values identity reads at each change (the
// config is swapped whole on reload).
type Settings struct {
	// Pool is where device addresses come from.
	Pool store.Pool
	// Endpoint is the gateway's public host[:port] in profiles (without
	// a port, the tunnel's listen port); MTU and Keepalive go there too.
	Endpoint  string
	MTU       int
	Keepalive time.Duration
	// Gateway is the gateway's tunnel address: the only address
	// profiles route (split tunnel).
	Gateway netip.Addr
	// PublicListen reports whether a public listener serves enrolment
	// links; LinkTTL is their default lifetime.
	PublicListen bool
	LinkTTL      time.Duration
	// ApprovalTTL is how long a device request waits for approval
	// (signin.enrol.approval_ttl); ended requests are swept every minute,
	// or every tenth of it when that is shorter. Zero: every minute.
	ApprovalTTL time.Duration
}

// Deps are what a Manager is given. Store, Peers, Sessions, Audit and
// Settings are required.
type Deps struct {
	Store    store.Backend
	Peers    Peers
	Sessions Sessions
	Audit    Recorder
	Settings func() Settings
	// Notify tells the other gateways of a change made here (after it
	// committed). If nil, nobody is told (a single gateway).
	Notify func(cluster.Change)
	// PublicURL is the public listener's base URL for enrolment links.
	PublicURL func() string
	// Now is the clock expiry is judged by. If nil, time.Now.
	Now func() time.Time
	// Logger; if nil, discarded.
	Logger *slog.Logger
}

// Snapshot maps tunnel addresses to the identities that may connect now.
// It is never modified once published.
type Snapshot map[netip.Addr]*session.Identity

// Manager changes users and devices and keeps the snapshot and the peers
// in step with the store. Its methods are safe for concurrent use.
type Manager struct {
	d      Deps
	log    *slog.Logger
	mu     sync.Mutex // serialises changes to users, devices and peers
	idents atomic.Pointer[Snapshot]
	flush  atomic.Int64            // revoke flush override (ns); zero: defaultFlush
	shared session.EndpointTracker // endpoints per peer: shared-device detection (peers.go)
	// lastSweep is when ExpireDue last swept ended device requests (ns).
	lastSweep atomic.Int64
}

// New returns a Manager with an empty snapshot; SyncPeers fills it.
func New(d Deps) *Manager {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{d: d, log: d.Logger}
	empty := Snapshot{}
	m.idents.Store(&empty)
	return m
}

// Identify is the proxy's hot-path lookup: one atomic load, one map read.
func (m *Manager) Identify(a netip.Addr) (*session.Identity, bool) {
	id, ok := (*m.idents.Load())[a.Unmap()]
	return id, ok
}

// Snapshot is the identity map in force.
func (m *Manager) Snapshot() Snapshot { return *m.idents.Load() }

// LockPeers holds every change to the peers off until unlock is called
// (a VIP takeover rewriting endpoints must not race a revoke's removal).
func (m *Manager) LockPeers() (unlock func()) {
	m.mu.Lock()
	return m.mu.Unlock
}

// SetFlush sets how long a cut waits for the FIN to cross the tunnel
// before the peer changes (zero: 200ms); tests lengthen it.
func (m *Manager) SetFlush(d time.Duration) { m.flush.Store(int64(d)) }

// defaultFlush is how long a revoked peer stays after its sessions were
// cut, so the FIN (sent when the table let go of the session) crosses the
// tunnel to the device: nothing in the tunnel reports its delivery. The
// peer can no longer open anything meanwhile.
const defaultFlush = 200 * time.Millisecond

func (m *Manager) notify(kind cluster.Kind, user, device string) {
	m.Notify(cluster.Change{Kind: kind, User: user, Device: device})
}

// Notify passes ch to the other gateways (nothing on a single gateway).
func (m *Manager) Notify(ch cluster.Change) {
	if m.d.Notify != nil {
		m.d.Notify(ch)
	}
}

// SyncPeers makes the tunnel's peers and the snapshot match the store.
func (m *Manager) SyncPeers(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.syncPeers(ctx)
}

// syncPeers is SyncPeers with m.mu held.
func (m *Manager) syncPeers(ctx context.Context) error {
	devs, err := m.publish(ctx)
	if err != nil {
		return err
	}
	return m.applyPeers(devs)
}

// publish rebuilds the snapshot from the store and returns the active
// devices that may connect now. From the moment it returns, connections
// from removed or expired devices and from disabled or expired users are
// refused. m.mu held.
func (m *Manager) publish(ctx context.Context) ([]store.Device, error) {
	devs, err := m.d.Store.Devices(ctx, false)
	if err != nil {
		return nil, err
	}
	users, err := m.d.Store.Users(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]store.User{}
	for _, u := range users {
		byName[u.Name] = u
	}
	now := m.d.Now()
	idents := make(Snapshot, len(devs))
	live := devs[:0:0]
	for _, d := range devs {
		u := byName[d.User]
		exp := earliest(d.Expires, u.Expires)
		if exp != nil && !now.Before(*exp) {
			continue // expired: no identity, no peer
		}
		idents[d.Address] = &session.Identity{DeviceID: d.ID, Device: d.Name, User: d.User, UserDisabled: u.Disabled,
			PublicKey: d.PublicKey, Address: d.Address, Expires: exp}
		live = append(live, d)
	}
	m.idents.Store(&idents)
	return live, nil
}

func earliest(a, b *time.Time) *time.Time {
	switch {
	case a == nil:
		return b
	case b == nil || a.Before(*b):
		return a
	}
	return b
}

// applyPeers adds and removes WireGuard peers to match devs. m.mu held.
func (m *Manager) applyPeers(devs []store.Device) error {
	want := make(map[string]store.Device, len(devs))
	for _, d := range devs {
		want[d.PublicKey] = d
	}
	have, err := m.d.Peers.Peers()
	if err != nil {
		return err
	}
	haveSet := map[string]bool{}
	for _, p := range have {
		k := p.PublicKey.String()
		d, ok := want[k]
		if !ok || len(p.AllowedIPs) != 1 || p.AllowedIPs[0].Addr() != d.Address {
			if err := m.d.Peers.RemovePeer(p.PublicKey); err != nil {
				return err
			}
			continue
		}
		haveSet[k] = true
	}
	for k, d := range want {
		if haveSet[k] {
			continue
		}
		pk, err := tunnel.ParsePublicKey(k)
		if err == nil {
			err = m.d.Peers.AddPeer(tunnel.Peer{PublicKey: pk, AllowedIPs: []netip.Prefix{netip.PrefixFrom(d.Address, d.Address.BitLen())}})
		}
		if err != nil {
			// One bad row must not leave every later device unconfigured.
			m.log.Error("device not configured: its key is unusable; rekey or revoke it", slog.String("user", d.User),
				slog.String("device", d.Name), slog.String("err", err.Error()))
		}
	}
	return nil
}

// Picker chooses the sessions a change cuts, given the snapshots before
// and after it was published.
type Picker func(before, after Snapshot) func(*session.Session) bool

// cutAndSync is called with m.mu held, after the store changed, and
// releases it. Order matters: refuse new connections first (publish the
// snapshot), then cut the live ones pick chooses, and remove or replace
// peers only once the closes had a moment to reach the devices through
// the tunnel (a removed peer's packets are dropped, and its home
// connection would stay open). The wait happens without m.mu, so other
// changes and expiry do not stall; a ctx that ends cuts it short.
func (m *Manager) cutAndSync(ctx context.Context, reason string, pick Picker) (int, error) {
	before := m.Snapshot()
	if _, err := m.publish(ctx); err != nil {
		m.mu.Unlock()
		return 0, err
	}
	match := pick(before, m.Snapshot())
	cut := m.d.Sessions.Cut(match, reason)
	m.mu.Unlock()
	if cut > 0 {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		m.d.Sessions.WaitGone(wctx, match)
		cancel()
		t := time.NewTimer(cmp.Or(time.Duration(m.flush.Load()), defaultFlush))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return cut, m.syncPeers(context.WithoutCancel(ctx))
}

// ofDevice picks the sessions of the device with store ID id.
func ofDevice(id int64) Picker {
	return func(_, _ Snapshot) func(*session.Session) bool {
		return func(s *session.Session) bool { return s.DeviceID == id }
	}
}

// gone picks the sessions whose device lost its identity (removed,
// expired, or its address now another device's), whose user is disabled,
// or whose device's key changed.
func gone(before, after Snapshot) func(*session.Session) bool {
	return func(s *session.Session) bool {
		id, ok := after[s.Client.Addr()]
		if !ok || id.DeviceID != s.DeviceID || id.UserDisabled {
			return true
		}
		was, ok := before[s.Client.Addr()]
		return ok && was.PublicKey != id.PublicKey
	}
}

// ApplyRemote re-reads users and devices after another gateway changed
// them (ch): the sessions whose device vanished, was rekeyed or expired,
// or whose user is disabled, are cut as a change made here would cut
// them. It returns the sessions cut.
func (m *Manager) ApplyRemote(ctx context.Context, ch cluster.Change) (int, error) {
	reason := map[cluster.Kind]string{cluster.KindRevoke: session.EndRevoked, cluster.KindDisable: session.EndDisabled,
		cluster.KindDevices: session.EndRekeyed}[ch.Kind]
	m.mu.Lock()
	return m.cutAndSync(ctx, cmp.Or(reason, session.EndExpired), gone)
}
