package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/cluster"
	"github.com/licgate/licgate/session"
	"github.com/licgate/licgate/tunnel"
)

// Cluster mode (cluster.enabled): the gateways share the PostgreSQL
// store, one WireGuard key, a session table with leases (so caps hold
// across gateways) and change notifications (so a revoke on one gateway
// cuts the device's sessions on all). See docs/ha.md.

// clusterOptions are knobs tests turn (export_test.go); zero in production.
type clusterOptions struct {
	timeout   time.Duration              // cluster.Config.Timeout; zero: its default (3s)
	onBreaker func(cluster.BreakerEvent) // told of every circuit change
}

// clusterLost cuts the local sessions whose shared rows lost their lease
// (the database was out of reach longer than a lease): they no longer
// count anywhere, so keeping them would break caps.
func (g *Gateway) clusterLost(ids []int64) {
	lost := make(map[int64]bool, len(ids))
	for _, id := range ids {
		lost[id] = true
	}
	n := g.sessions.Cut(func(s *session.Session) bool { return lost[s.ClusterID] }, session.EndError)
	g.log.Warn("cluster: sessions cut: their lease ran out before it could be renewed", slog.Int("sessions", n))
}

// clusterShared is the session table's view of the cluster
// (session.Shared): a capped session is admitted against the counts of
// every gateway, under the cluster's admission lock, and released
// before it is reported ended. The table calls it without its lock, and
// every call goes through the cluster's circuit breaker: a database
// that does not answer costs one timeout, then connects are refused at
// once (fail closed) until it answers again.
type clusterShared struct{ g *Gateway }

var _ session.Shared = clusterShared{}

// Admit implements session.Shared.
func (c clusterShared) Admit(s *session.Session, decide func(acl.Counts) (session.Admission, error)) (int64, error) {
	g := c.g
	var refused error
	cs, err := g.cl.Admit(context.Background(), cluster.Session{User: s.User, Device: s.Device, Service: s.Service},
		func(cc acl.Counts) (cluster.Decision, error) {
			a, err := decide(cc)
			if err != nil {
				refused = err
				return cluster.Decision{}, err
			}
			return cluster.Decision{Rule: a.Rule, Groups: a.Groups}, nil
		})
	switch {
	case refused != nil:
		return 0, refused
	case errors.Is(err, cluster.ErrUnavailable):
		return 0, &session.DenyError{Rule: -1, Kind: session.DenyKindOther,
			Reason: "cluster: shared session table unavailable (the database did not answer lately): refused (fails closed)"}
	case err != nil:
		g.log.Error("cluster: admission failed: refused (fails closed)", slog.String("user", s.User),
			slog.String("device", s.Device), slog.String("err", err.Error()))
		return 0, &session.DenyError{Rule: -1, Kind: session.DenyKindOther,
			Reason: "cluster: shared session table unreachable: " + err.Error()}
	}
	return cs.ID, nil
}

// Release implements session.Shared.
func (c clusterShared) Release(s *session.Session) {
	if err := c.g.cl.Release(context.Background(), s.ClusterID); err != nil {
		c.g.log.Warn("cluster: release failed; the row is deleted when the database answers again, or stops counting after the lease",
			slog.Uint64("session", s.ID), slog.String("err", err.Error()))
	}
}

// ClusterHealth is the cluster's database circuit, from memory (health
// and metrics never wait on the database); nil without cluster mode.
func (g *Gateway) ClusterHealth() *adminapi.ClusterHealth {
	if g.cl == nil {
		return nil
	}
	b := g.cl.Breaker()
	return &adminapi.ClusterHealth{GatewayID: g.cl.ID(), Database: string(b.State), Since: b.Since, Trips: b.Trips,
		Refused: b.Refused, LastError: b.LastError}
}

// clusterCounts are the live counts of the whole cluster (for policy
// explain; admission counts under the cluster lock instead).
func (g *Gateway) clusterCounts(ctx context.Context) (acl.Counts, error) {
	ss, err := g.cl.Sessions(ctx)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return countOf(ss, func(cluster.Session) bool { return true }), nil
}

// countOf counts the sessions keep accepts.
func countOf(ss []cluster.Session, keep func(cluster.Session) bool) *cluster.Counts {
	n := &cluster.Counts{Device: map[[2]string]int{}, User: map[string]int{}, Rule: map[int]int{}, Group: map[string]int{}, Service: map[string]int{}}
	for _, s := range ss {
		if !keep(s) {
			continue
		}
		n.Device[[2]string{s.User, s.Device}]++
		n.User[s.User]++
		if s.Rule >= 0 {
			n.Rule[s.Rule]++
		}
		for _, gr := range s.Groups {
			n.Group[gr]++
		}
		n.Service[s.Service]++
	}
	return n
}

// otherSessions are the other gateways' counting sessions, for
// re-evaluation: a session is re-decided against the sessions admitted
// before it on every gateway (oldest first cluster-wide, so a lowered cap
// cuts the cluster's newest sessions, whichever gateway holds them).
type otherSessions []cluster.Session

// otherGateways lists them; nil without cluster mode, or when the
// database is unreachable (then only this gateway's sessions count, and
// the lowered cap is enforced at the next re-evaluation).
func (g *Gateway) otherGateways() otherSessions {
	if g.cl == nil {
		return nil
	}
	ss, err := g.cl.Sessions(context.Background()) // bounded by the circuit breaker
	if err != nil {
		g.log.Warn("cluster: re-evaluation sees only this gateway's sessions", slog.String("err", err.Error()))
		return nil
	}
	out := otherSessions{}
	for _, s := range ss {
		if s.Gateway != g.cl.ID() {
			out = append(out, s)
		}
	}
	return out
}

// olderThan adds to local the other gateways' sessions admitted before
// the shared session id (IDs follow admission order, which the cluster
// lock serialises).
func (o otherSessions) olderThan(id int64, local acl.Counts) acl.Counts {
	if id == 0 {
		return local
	}
	return sumCounts{local, countOf(o, func(s cluster.Session) bool { return s.ID < id })}
}

// sumCounts adds two Counts.
type sumCounts [2]acl.Counts

func (c sumCounts) DeviceSessions(u, d string) int {
	return c[0].DeviceSessions(u, d) + c[1].DeviceSessions(u, d)
}
func (c sumCounts) UserSessions(u string) int  { return c[0].UserSessions(u) + c[1].UserSessions(u) }
func (c sumCounts) RuleSessions(i int) int     { return c[0].RuleSessions(i) + c[1].RuleSessions(i) }
func (c sumCounts) GroupSessions(g string) int { return c[0].GroupSessions(g) + c[1].GroupSessions(g) }
func (c sumCounts) ServiceSessions(s string) int {
	return c[0].ServiceSessions(s) + c[1].ServiceSessions(s)
}

// notify tells every gateway of a change made here (after it committed).
// Without cluster mode it does nothing.
func (g *Gateway) notify(kind cluster.Kind, user, device string) {
	g.notifyChange(cluster.Change{Kind: kind, User: user, Device: device})
}

func (g *Gateway) notifyChange(ch cluster.Change) {
	if g.cl == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.cl.Notify(ctx, ch); err != nil {
		g.log.Error("cluster: the other gateways were not told of a change; they pick it up on their next resync",
			slog.String("kind", string(ch.Kind)), slog.String("err", err.Error()))
	}
}

// watchCluster applies the other gateways' changes until ctx ends.
func (g *Gateway) watchCluster(ctx context.Context) {
	defer g.wg.Done()
	first := true
	g.cl.Watch(ctx, func(ch cluster.Change) {
		if ch.Origin == g.cl.ID() {
			return // made here, applied already
		}
		g.log.Debug("cluster: change", slog.String("kind", string(ch.Kind)), slog.String("from", ch.Origin),
			slog.String("user", ch.User), slog.String("device", ch.Device))
		switch ch.Kind {
		case cluster.KindPolicy:
			g.reload(ctx, false)
		case cluster.KindSignIn:
			// In memory on each gateway, as on a single one: a sign-in
			// made while this gateway was down is not replayed.
			g.RecordSignIn(ch.User, ch.Device, ch.At)
		case cluster.KindResync:
			g.applyRemote(ctx, ch)
			if !first {
				g.reload(ctx, false)
			}
			first = false
		default:
			g.applyRemote(ctx, ch)
		}
		if h := g.onClusterChange; h != nil {
			h(ch)
		}
	})
}

// applyRemote re-reads users and devices after another gateway changed
// them (identity's one cut-and-sync routine, as a change made here).
func (g *Gateway) applyRemote(ctx context.Context, ch cluster.Change) {
	cut, err := g.ApplyRemote(ctx, ch)
	if err != nil {
		g.log.Error("cluster: apply a change", slog.String("kind", string(ch.Kind)), slog.String("err", err.Error()))
	}
	if cut > 0 {
		g.log.Info("cluster: sessions cut after a change on another gateway", slog.String("kind", string(ch.Kind)),
			slog.String("from", ch.Origin), slog.Int("sessions_cut", cut))
	}
}

// takeoverLoop watches cluster.vip every second (active/standby behind
// keepalived). While this gateway holds the VIP it records where devices
// were seen; when it gains the VIP it configures those endpoints with a
// keepalive, so WireGuard starts the handshake with each device at once
// instead of waiting for the device to give up on the dead gateway.
func (g *Gateway) takeoverLoop(ctx context.Context, vip netip.Addr) {
	defer g.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	held := false
	var lastRecord time.Time
	var nudged []tunnel.Key // peers given an endpoint and keepalive on takeover
	for {
		now := hasAddr(vip)
		switch {
		case now && !held:
			var err error
			nudged, err = g.takeover(ctx, vip)
			n := len(nudged)
			if errors.Is(err, errNotFromVIP) {
				now = false // keepalived's notify script has not run yet: next second
				break
			}
			if err != nil {
				g.log.Error("cluster: takeover", slog.String("err", err.Error()))
			}
			g.log.Info("cluster: this gateway holds the VIP now: handshakes started with the devices seen recently",
				slog.String("vip", vip.String()), slog.Int("peers", n))
		case !now && held:
			g.log.Info("cluster: this gateway no longer holds the VIP", slog.String("vip", vip.String()))
			g.untakeover(nudged)
			nudged = nil
		}
		held = now
		if held && time.Since(lastRecord) >= 2*time.Second {
			lastRecord = time.Now()
			if err := g.recordEndpoints(ctx); err != nil && ctx.Err() == nil {
				g.log.Warn("cluster: record endpoints", slog.String("err", err.Error()))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// hasAddr reports whether a is on a local interface.
func hasAddr(a netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ad := range addrs {
		if pn, ok := ad.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(pn.IP); ok && ip.Unmap() == a {
				return true
			}
		}
	}
	return false
}

// sourceFor is the local address packets to ep leave from (the kernel's
// route lookup of a connected UDP socket; nothing is sent).
func sourceFor(ep netip.AddrPort) netip.Addr {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ep))
	if err != nil {
		return netip.Addr{}
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
}

// recordEndpoints stores the endpoints of peers with a handshake in the
// last 3 minutes.
func (g *Gateway) recordEndpoints(ctx context.Context) error {
	ps, err := g.tun.Peers()
	if err != nil {
		return err
	}
	eps := map[string]netip.AddrPort{}
	for _, p := range ps {
		if p.Endpoint.IsValid() && !p.LastHandshake.IsZero() && time.Since(p.LastHandshake) < 3*time.Minute {
			eps[p.PublicKey.String()] = p.Endpoint
		}
	}
	return g.cl.RecordEndpoints(ctx, eps)
}

// takeoverKeepalive is the keepalive given to peers on takeover: it makes
// wireguard-go initiate a handshake at once.
const takeoverKeepalive = 25 * time.Second

// errNotFromVIP: packets to the devices would not leave from the VIP.
var errNotFromVIP = errors.New("cluster: takeover: packets to devices do not leave from the VIP yet")

// takeover points every known peer at the endpoint the cluster last saw
// it at, with a keepalive. It returns the peers it changed. It does
// nothing (errNotFromVIP) until packets towards the devices leave from
// the VIP (keepalived's notify script sets the route's source): a
// handshake from another address would make the device follow that
// address, not the VIP.
func (g *Gateway) takeover(ctx context.Context, vip netip.Addr) ([]tunnel.Key, error) {
	eps, err := g.cl.Endpoints(ctx, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	for _, ep := range eps {
		if src := sourceFor(ep); src != vip {
			g.log.Debug("cluster: takeover waits: packets leave from another address", slog.String("source", src.String()))
			return nil, errNotFromVIP
		}
		break // one route check stands for all: devices are behind the default route
	}
	defer g.LockPeers()()
	ps, err := g.tun.Peers()
	if err != nil {
		return nil, err
	}
	var nudged []tunnel.Key
	for _, p := range ps {
		ep, ok := eps[p.PublicKey.String()]
		if !ok {
			continue
		}
		if err := g.tun.AddPeer(tunnel.Peer{PublicKey: p.PublicKey, AllowedIPs: p.AllowedIPs, Endpoint: ep,
			PersistentKeepalive: takeoverKeepalive}); err != nil {
			return nudged, fmt.Errorf("cluster: takeover: %w", err)
		}
		nudged = append(nudged, p.PublicKey)
	}
	return nudged, nil
}

// untakeover gives the peers takeover changed back their plain form (no
// endpoint, no keepalive) when this gateway lost the VIP: keepalives
// sent from its own address would make the devices follow that address
// away from the VIP. Their sessions here are over anyway: the devices
// now reach the VIP's new holder.
func (g *Gateway) untakeover(peers []tunnel.Key) {
	if len(peers) == 0 {
		return
	}
	defer g.LockPeers()()
	ps, err := g.tun.Peers()
	if err != nil {
		g.log.Error("cluster: reset peers after losing the VIP", slog.String("err", err.Error()))
		return
	}
	current := map[tunnel.Key][]netip.Prefix{}
	for _, p := range ps {
		current[p.PublicKey] = p.AllowedIPs
	}
	for _, k := range peers {
		allowed, ok := current[k]
		if !ok {
			continue // revoked meanwhile
		}
		if err := g.tun.RemovePeer(k); err == nil {
			err = g.tun.AddPeer(tunnel.Peer{PublicKey: k, AllowedIPs: allowed})
		}
		if err != nil {
			g.log.Error("cluster: reset a peer after losing the VIP", slog.String("peer", k.String()), slog.String("err", err.Error()))
		}
	}
}
