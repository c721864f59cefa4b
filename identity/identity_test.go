package identity_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/licgate/licgate/identity"
	"github.com/licgate/licgate/session"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/local"
	"github.com/licgate/licgate/tunnel"
)

// steps records what the peers and the session table were asked, in order.
type steps struct {
	mu  sync.Mutex
	log []string
}

func (s *steps) add(f string, a ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, fmt.Sprintf(f, a...))
}

func (s *steps) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

type fakePeers struct {
	*steps
	peers map[tunnel.Key]tunnel.Peer
}

func (p *fakePeers) Peers() ([]tunnel.PeerStatus, error) {
	var out []tunnel.PeerStatus
	for _, pe := range p.peers {
		out = append(out, tunnel.PeerStatus{PublicKey: pe.PublicKey, AllowedIPs: pe.AllowedIPs})
	}
	return out, nil
}
func (p *fakePeers) AddPeer(pe tunnel.Peer) error {
	p.add("add peer")
	p.peers[pe.PublicKey] = pe
	return nil
}
func (p *fakePeers) RemovePeer(k tunnel.Key) error {
	p.add("remove peer")
	delete(p.peers, k)
	return nil
}
func (p *fakePeers) PublicKey() tunnel.Key { return tunnel.Key{} }
func (p *fakePeers) ListenPort() int       { return 51820 }

// fakeSessions holds one live session of device 1 until it is cut.
type fakeSessions struct {
	*steps
	live bool
}

func (f *fakeSessions) Cut(match func(*session.Session) bool, reason string) int {
	if f.live && match(&session.Session{DeviceID: 1, User: "alice", Device: "laptop"}) {
		f.add("cut (%s)", reason)
		return 1
	}
	return 0
}

func (f *fakeSessions) WaitGone(ctx context.Context, match func(*session.Session) bool) bool {
	f.add("gone")
	f.live = false
	return true
}

type nopAudit struct{}

func (nopAudit) Event(actor, action, detail string) {}

// A change that takes a right away goes through one routine: the
// snapshot refuses new connections, the live sessions are cut and waited
// for, and only then does the peer go (its FIN crosses the tunnel first).
// Revoke, disable and expiry all keep that order.
func TestCutsBeforeThePeerGoes(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(m *identity.Manager) error
		want   []string
	}{
		{"revoke", func(m *identity.Manager) error { _, err := m.RevokeDevice(ctx, "alice", "laptop"); return err },
			[]string{"cut (revoked)", "gone", "remove peer"}},
		{"device expiry", func(m *identity.Manager) error {
			past := time.Now().Add(-time.Minute)
			return m.SetDeviceExpiry(ctx, "alice", "laptop", &past)
		}, []string{"cut (access expired)", "gone", "remove peer"}},
		{"disable", func(m *identity.Manager) error { _, err := m.SetUserDisabled(ctx, "alice", true); return err },
			[]string{"cut (user disabled)", "gone"}}, // a disabled user's peer stays (refused by the snapshot)
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := local.Open(ctx, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			log := &steps{}
			peers := &fakePeers{steps: log, peers: map[tunnel.Key]tunnel.Peer{}}
			sessions := &fakeSessions{steps: log}
			gw := netip.MustParseAddr("10.44.0.1")
			m := identity.New(identity.Deps{Store: st, Peers: peers, Sessions: sessions, Audit: nopAudit{},
				Settings: func() identity.Settings {
					return identity.Settings{Pool: store.Pool{Subnet: netip.MustParsePrefix("10.44.0.0/24"), Reserved: []netip.Addr{gw}},
						Endpoint: "gw.example", Gateway: gw}
				}})
			m.SetFlush(time.Millisecond)
			if _, err := m.AddUser(ctx, "alice", ""); err != nil {
				t.Fatal(err)
			}
			d, err := m.AddDevice(ctx, "alice", "laptop", "")
			if err != nil {
				t.Fatal(err)
			}
			if id, ok := m.Identify(d.Device.Address); !ok || id.Device != "laptop" || d.Device.ID != 1 {
				t.Fatalf("snapshot after add: %+v %v (device %+v)", id, ok, d.Device)
			}
			sessions.live = true
			before := len(log.list())
			if err := tc.change(m); err != nil {
				t.Fatal(err)
			}
			if got := log.list()[before:]; !slices.Equal(got, tc.want) {
				t.Fatalf("steps %q, want %q", got, tc.want)
			}
			if id, ok := m.Identify(d.Device.Address); ok && !id.UserDisabled {
				t.Fatalf("the snapshot still admits the device: %+v", id)
			}
		})
	}
}
