package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	storeopen "github.com/licgate/licgate/store/open"

	"github.com/licgate/licgate/portmap"
	"github.com/licgate/licgate/service"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/transparent"

	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/certs"
	"github.com/licgate/licgate/cluster"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/proxy"
	"github.com/licgate/licgate/session"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/ddns"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/tunnel"
)

// Gateway is the daemon. Methods that change users or devices are safe
// for concurrent use.
type Gateway struct {
	cfg atomic.Pointer[config.Config] // swapped whole on reload
	log *slog.Logger

	onReload      func(*config.Config)
	dir           dirState
	signinMu      sync.Mutex                           // serialises recordSignIn
	portmap       *portmap.Mapper                      // WireGuard UDP; nil unless portmap.enabled
	portmapPublic *portmap.Mapper                      // the public listener (TCP); nil unless both                      // nil unless portmap.enabled
	signins       atomic.Pointer[map[string]time.Time] // signinKey(user, device) -> last portal sign-in
	unlockKey     atomic.Pointer[[]byte]               // signs the portal's device tokens (signin.go)
	revokeFlush   time.Duration                        // if zero, the constant revokeFlush (tests lengthen it)

	st       store.Backend
	tun      tunnel.Endpoint
	sessions *session.SessionTable
	idents   atomic.Pointer[map[netip.Addr]*session.Identity]

	engine  atomic.Pointer[acl.Engine]
	audit   *audit.Writer
	boot    string
	clock   func() time.Time
	heard   tunnel.Silence // when each peer was last heard (enforce loop only)
	closers []func()       // run in reverse by Close
	noAudit bool
	shared  session.EndpointTracker

	certs    *certs.Manager
	lanLn    net.Listener
	publicLn net.Listener
	metrics  *adminapi.Metrics
	ddns     *ddns.Manager // nil without ddns.host; guarded by ddnsMu
	ddnsMu   sync.Mutex
	ddnsStop func()          // stops the running manager (under g.mu)
	loopCtx  context.Context // lives until Close

	// Cluster mode (cluster.go); cl is nil without it.
	cl              *cluster.Cluster
	clStop          context.CancelFunc   // stops lease renewal (tests: a crash)
	clOpts          clusterOptions       // test knobs (export_test.go)
	onClusterChange func(cluster.Change) // test hook: after a change was applied

	mu      sync.Mutex // serialises changes to users, devices and policy
	wg      sync.WaitGroup
	state   int // 0 new, 1 started, 2 closed
	stateMu sync.Mutex
}

// Option configures a Gateway.
type Option func(*Gateway)

// WithoutAudit turns the audit log off (benchmarks compare against it).
func WithoutAudit() Option { return func(g *Gateway) { g.noAudit = true } }

// WithOnReload calls f with every config a reload put in force, for the
// process-wide settings (memory limit) that belong to main, not to the
// library.
func WithOnReload(f func(*config.Config)) Option { return func(g *Gateway) { g.onReload = f } }

// WithClock replaces the clock policy decisions use (time windows, dates).
// Tests use it to move through office hours; WireGuard's own timers and
// the vanished-peer check keep real time.
func WithClock(now func() time.Time) Option { return func(g *Gateway) { g.clock = now } }

// New returns a gateway for cfg. It has no side effects; Start does the work.
// logger may be nil.
func New(cfg *config.Config, logger *slog.Logger, opts ...Option) *Gateway {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{log: logger, boot: strconv.FormatInt(time.Now().UnixNano(), 36), audit: audit.New(nil, nil), certs: certs.New(cfg.StateDir, logger), sessions: session.NewSessionTable(), clock: time.Now}
	g.cfg.Store(cfg)
	for _, o := range opts {
		o(g)
	}
	empty := map[netip.Addr]*session.Identity{}
	g.idents.Store(&empty)
	g.engine.Store(cfg.Engine())
	g.metrics = adminapi.NewMetrics(g)
	return g
}

func (g *Gateway) now() time.Time { return g.clock() }

// conf is the configuration in force (swapped whole on reload).
func (g *Gateway) conf() *config.Config { return g.cfg.Load() }

// Config returns the configuration in force.
func (g *Gateway) Config() *config.Config { return g.conf() }

// Start opens the store, brings the tunnel up with every active device as
// a peer, starts a proxy per service and the listeners. Each step
// registers its closer; Close (also after a failed Start) runs them in
// reverse order, so nothing outlives what it uses: the audit writer
// closes after everything that records into it, the store last.
//
//	new --Start--> started --Close--> closed
//	 \--Start fails: closers of the steps done run--> closed
func (g *Gateway) Start(ctx context.Context) (err error) {
	g.stateMu.Lock()
	defer g.stateMu.Unlock()
	if g.state != 0 {
		return errors.New("gateway: start: already started or closed")
	}
	g.state = 1
	defer func() {
		if err != nil {
			g.closeLocked()
		}
	}()
	cfg := g.conf()
	if err := service.SecureStateDir(cfg.StateDir); err != nil { // 0700; Administrators and SYSTEM on Windows
		return fmt.Errorf("gateway: start: %w", err)
	}
	if g.st, err = openStore(ctx, cfg, g.log); err != nil {
		return fmt.Errorf("gateway: start: %w", err)
	}
	g.onClose(func() { g.st.Close() })
	var key tunnel.Key
	if cfg.Cluster.Enabled {
		// Joined before anything admits sessions; left after every
		// session ended. Only this gateway's open audit sessions are
		// closed: the others may be other gateways' live ones.
		if key, err = g.startCluster(ctx, cfg); err != nil {
			return fmt.Errorf("gateway: start: %w", err)
		}
		if cfg, err = g.clusterPolicyAtStart(ctx, cfg); err != nil {
			return fmt.Errorf("gateway: start: %w", err)
		}
	} else if n, err := g.st.CloseOpenSessions(ctx, time.Now(), "gateway restarted"); err != nil {
		return fmt.Errorf("gateway: start: %w", err)
	} else if n > 0 {
		g.log.Warn("audit: sessions left open by an unclean stop were closed", slog.Int64("sessions", n))
	}
	epoch, err := g.st.NextSessionEpoch(ctx)
	if err != nil {
		return fmt.Errorf("gateway: start: %w", err)
	}
	g.sessions.SetBase(uint64(epoch) << 32) // session IDs stay unique across restarts
	g.audit = audit.New(g.st, g.log.With(slog.String("component", "audit")))
	g.audit.Start()
	g.onClose(func() { g.audit.Close() })
	g.sessions.OnStart = g.sessionStarted
	g.sessions.OnEnd = g.sessionEnded
	for _, w := range cfg.Warnings() {
		g.log.Warn("config", slog.String("warning", w))
	}
	if g.cl == nil {
		if key, err = config.LoadOrCreateKey(cfg.Tunnel.PrivateKeyFile); err != nil {
			return fmt.Errorf("gateway: start: %w", err)
		}
	}
	if g.tun, err = openTunnel(cfg, key, g.log.With(slog.String("component", "tunnel"))); err != nil {
		return fmt.Errorf("gateway: start: %w", err)
	}
	g.onClose(func() { g.tun.Close() })
	if err := g.syncPeers(ctx); err != nil {
		return fmt.Errorf("gateway: start: %w", err)
	}
	if cfg.Portmap.Enabled {
		pc := cfg.PortmapMapper()
		pc.InternalPort = g.tun.ListenPort()
		g.portmap = portmap.New(pc, g.log.With(slog.String("component", "portmap")))
		g.onClose(func() { g.portmap.Close() }) // removes the mapping from the router
		go g.runPortmap(g.portmap)
	}
	if err := g.startTransparent(cfg); err != nil {
		return fmt.Errorf("gateway: start: %w", err)
	}
	// Goroutines (proxies, loops, listeners) are waited for before the
	// tunnel closes.
	g.onClose(g.wg.Wait)
	for _, sc := range cfg.Services {
		if err := g.startService(sc); err != nil {
			return fmt.Errorf("gateway: start: %w", err)
		}
	}
	if err := g.startAPI(); err != nil {
		return fmt.Errorf("gateway: start: %w", err)
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	g.loopCtx = loopCtx
	g.onClose(cancel)
	g.wg.Add(1)
	go g.enforceLoop(loopCtx)
	if g.cl != nil {
		g.wg.Add(1)
		go g.watchCluster(loopCtx)
		if vip := cfg.Cluster.VIPAddr(); vip.IsValid() {
			g.wg.Add(1)
			go g.takeoverLoop(loopCtx, vip)
		}
	}
	if cfg.Directory.URL != "" {
		g.startDirectory(loopCtx, cfg)
	}
	if cfg.DDNS.Host != "" {
		if err := g.startDDNS(loopCtx, cfg); err != nil {
			return fmt.Errorf("gateway: start: %w", err)
		}
	}
	g.onClose(func() { g.certs.Close() })
	if err := g.startAdmin(ctx); err != nil {
		return fmt.Errorf("gateway: start: %w", err)
	}
	if cfg.Public.Listen != "" {
		if err := g.startPublic(ctx); err != nil {
			return fmt.Errorf("gateway: start: %w", err)
		}
	}
	g.log.Info("licgate started", slog.String("mode", cfg.Tunnel.Mode), slog.Int("listen_port", g.tun.ListenPort()),
		slog.String("address", cfg.Tunnel.Address), slog.String("public_key", key.PublicKey().String()),
		slog.String("socket", cfg.Socket), slog.Int("devices", len(*g.idents.Load())))
	return nil
}

// Routing is the policy routing that source: tunnel needs, for this
// config: replies to the tunnel subnet from the LAN are delivered to
// licgate's transparent sockets.
func Routing(cfg *config.Config) transparent.Routing {
	r := transparent.Routing{Subnet: cfg.SubnetPrefix()}
	if cfg.Tunnel.Mode != "netstack" {
		r.TunnelInterface = cfg.Tunnel.Interface
	}
	return r
}

// startTransparent sets up the routing for services with source: tunnel.
func (g *Gateway) startTransparent(cfg *config.Config) error {
	var names []string
	for _, sc := range cfg.Services {
		if sc.Source == "tunnel" {
			names = append(names, sc.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	if err := transparent.Available(); err != nil {
		return fmt.Errorf("services %v use source: tunnel: %w", names, err)
	}
	teardown, err := transparent.Setup(Routing(cfg))
	if err != nil {
		return fmt.Errorf("services %v use source: tunnel: %w", names, err)
	}
	g.onClose(func() {
		if err := teardown(); err != nil {
			g.log.Error("removing the transparent routing", slog.String("err", err.Error()))
		}
	})
	g.log.Info("license server sees each device's tunnel address", slog.Any("services", names),
		slog.String("lan_needs", "a route for "+cfg.Tunnel.Subnet+" via this host"))
	return nil
}

// runPortmap keeps the router's port mapping until Close.
func (g *Gateway) runPortmap(m *portmap.Mapper) {
	if err := m.Run(context.Background()); err != nil && !errors.Is(err, net.ErrClosed) {
		g.log.Error("port mapping stopped", slog.String("err", err.Error()))
	}
}

// PortmapStatus is the router port mapping's state (nil when off).
func (g *Gateway) PortmapStatus() *portmap.Status {
	if g.portmap == nil {
		return nil
	}
	st := g.portmap.Status()
	return &st
}

// PortmapPublicStatus is the public listener's TCP mapping (nil when off).
func (g *Gateway) PortmapPublicStatus() *portmap.Status {
	if g.portmapPublic == nil {
		return nil
	}
	st := g.portmapPublic.Status()
	return &st
}

// openStore opens the configured store: the local backend in the state
// directory, or a shared PostgreSQL (store/open).
func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (store.Backend, error) {
	return storeopen.Store(ctx, storeopen.Options{Driver: cfg.Store.Driver, StateDir: cfg.StateDir, DSNFile: cfg.Store.DSNFile, Log: log})
}

// onClose registers a step's closer; Close runs them in reverse order.
func (g *Gateway) onClose(f func()) { g.closers = append(g.closers, f) }

// shutdown stops an HTTP server, waiting a little for requests in flight.
func shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}

func (g *Gateway) startService(sc config.ServiceConfig) error {
	p := &proxy.Proxy{
		Service:                 sc.Name,
		Upstream:                sc.Upstream,
		DialTimeout:             sc.DialTimeout.Duration,
		UDPIdleTimeout:          sc.UDPIdleTimeout.Duration,
		HalfCloseTimeout:        sc.HalfCloseTimeout.Duration,
		MaxUDPMappingsPerDevice: sc.UDPMappingsPerDevice,
		MaxUDPMappings:          sc.UDPMappings,
		CountUDP:                len(sc.Protocols) == 1 && sc.Protocols[0] == "udp",
		Identify:                g.identify,
		Authorize:               g.authorize,
		OnDeny:                  g.denied,
		OnDial: func(service string, d time.Duration, err error) {
			if err == nil {
				g.metrics.DialSeconds.WithLabelValues(service).Observe(d.Seconds())
			}
		},
		Sessions: g.sessions,
		Logger:   g.log.With(slog.String("component", "proxy")),
	}
	if sc.Source == "tunnel" {
		p.DialFrom = (&transparent.Dialer{Subnet: g.conf().SubnetPrefix()}).DialFrom
	}
	g.onClose(func() { p.Close() })
	at := netip.AddrPortFrom(g.conf().GatewayAddr(), uint16(sc.Port))
	for _, proto := range sc.Protocols {
		switch proto {
		case "tcp":
			ln, err := g.tun.ListenTCP(at)
			if err != nil {
				return fmt.Errorf("service %s: %w", sc.Name, err)
			}
			g.wg.Add(1)
			go g.serveTCP(p, ln)
		case "udp":
			pc, err := g.tun.ListenUDP(at)
			if err != nil {
				return fmt.Errorf("service %s: %w", sc.Name, err)
			}
			g.wg.Add(1)
			go g.serveUDP(p, pc)
		}
	}
	return nil
}

func (g *Gateway) serveTCP(p *proxy.Proxy, ln net.Listener) {
	defer g.wg.Done()
	if err := p.ServeTCP(ln); err != nil {
		g.log.Error("proxy stopped", slog.String("service", p.Service), slog.String("err", err.Error()))
	}
}

func (g *Gateway) serveUDP(p *proxy.Proxy, pc net.PacketConn) {
	defer g.wg.Done()
	if err := p.ServeUDP(pc); err != nil {
		g.log.Error("proxy stopped", slog.String("service", p.Service), slog.String("err", err.Error()))
	}
}

// Close stops everything: the API, the proxies (cutting live sessions),
// the tunnel and the store. A second call returns net.ErrClosed.
func (g *Gateway) Close() error {
	g.stateMu.Lock()
	defer g.stateMu.Unlock()
	if g.state == 2 {
		return net.ErrClosed
	}
	g.closeLocked()
	return nil
}

func (g *Gateway) closeLocked() {
	g.state = 2
	for i := len(g.closers) - 1; i >= 0; i-- {
		g.closers[i]()
	}
	g.closers = nil
	g.log.Info("licgate stopped")
}

// identify is the proxy's hot-path lookup: one atomic load, one map read.
func (g *Gateway) identify(a netip.Addr) (*session.Identity, bool) {
	id, ok := (*g.idents.Load())[a.Unmap()]
	return id, ok
}

// authorize asks the policy engine. counts is nil for the quick check
// before dialling (caps unchecked) and the live counts under the session
// table lock (in cluster mode: every gateway's, see clusterShared).
func (g *Gateway) authorize(id *session.Identity, service string, counts acl.Counts) (session.Admission, error) {
	if id.UserDisabled {
		return session.Admission{}, &session.DenyError{Rule: -1, Kind: session.DenyKindDisabled, Reason: "user " + id.User + " is disabled"}
	}
	eng := g.engine.Load()
	d := eng.Decide(g.request(id, service, g.now(), counts))
	if !d.Allow {
		reason := d.Reason
		if d.Kind == acl.KindSignIn {
			reason += g.portalHint()
		}
		return session.Admission{}, &session.DenyError{Rule: d.Rule, Kind: denyKinds[d.Kind], Reason: reason}
	}
	return session.Admission{Rule: d.Rule, Reason: d.Reason, Groups: eng.GroupsOf(id.User)}, nil
}

// syncPeers makes the tunnel's peers and the identity map match the store.
// Called at start and after every change, under g.mu.
func (g *Gateway) syncPeers(ctx context.Context) error {
	devs, err := g.publishIdentities(ctx)
	if err != nil {
		return err
	}
	return g.applyPeers(devs)
}

// publishIdentities rebuilds the address -> identity map from the store
// and returns the active devices that may connect now. From the moment it
// returns, connections from removed or expired devices and from disabled
// or expired users are refused.
func (g *Gateway) publishIdentities(ctx context.Context) ([]store.Device, error) {
	devs, err := g.st.Devices(ctx, false)
	if err != nil {
		return nil, err
	}
	users, err := g.st.Users(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]store.User{}
	for _, u := range users {
		byName[u.Name] = u
	}
	now := g.now()
	idents := make(map[netip.Addr]*session.Identity, len(devs))
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
	g.idents.Store(&idents)
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

// expireDue removes devices whose (or whose user's) expiry has passed:
// their peers go and their sessions are cut. The enforcement loop calls it.
func (g *Gateway) expireDue(ctx context.Context) int {
	now := g.now()
	var due []int64
	for _, id := range *g.idents.Load() {
		if id.Expires != nil && !now.Before(*id.Expires) {
			due = append(due, id.DeviceID)
		}
	}
	if len(due) == 0 {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.syncPeers(ctx); err != nil {
		g.log.Error("expire devices", slog.String("err", err.Error()))
		return 0
	}
	cut := g.sessions.Cut(func(s *session.Session) bool { return slices.Contains(due, s.DeviceID) }, session.EndExpired)
	g.log.Info("devices expired: peers removed", slog.Int("devices", len(due)), slog.Int("sessions_cut", cut))
	return cut
}

// SetUserExpiry sets (nil: clears) when a user's access ends. A date in
// the past takes effect at once.
func (g *Gateway) SetUserExpiry(ctx context.Context, name string, expires *time.Time) error {
	g.mu.Lock()
	err := g.st.SetUserExpiry(ctx, name, expires)
	if err == nil {
		err = g.syncPeers(ctx)
	}
	g.mu.Unlock()
	if err != nil {
		return err
	}
	g.notify(cluster.KindUsers, name, "")
	g.auditEvent(audit.ActorOf(ctx), "user.expiry", fmt.Sprintf("%s %v", name, fmtExpiry(expires)))
	g.expireNow(ctx)
	return nil
}

// SetDeviceExpiry sets (nil: clears) when a device stops working.
func (g *Gateway) SetDeviceExpiry(ctx context.Context, user, name string, expires *time.Time) error {
	g.mu.Lock()
	err := g.st.SetDeviceExpiry(ctx, user, name, expires)
	if err == nil {
		err = g.syncPeers(ctx)
	}
	g.mu.Unlock()
	if err != nil {
		return err
	}
	g.notify(cluster.KindDevices, user, name)
	g.auditEvent(audit.ActorOf(ctx), "device.expiry", fmt.Sprintf("%s/%s %v", user, name, fmtExpiry(expires)))
	g.expireNow(ctx)
	return nil
}

// expireNow cuts sessions whose device no longer has an identity (it was
// just expired by a date in the past).
func (g *Gateway) expireNow(ctx context.Context) {
	idents := *g.idents.Load()
	g.sessions.Cut(func(s *session.Session) bool {
		id, ok := idents[s.Client.Addr()]
		return !ok || id.DeviceID != s.DeviceID
	}, session.EndExpired)
}

func fmtExpiry(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Format(time.RFC3339)
}

// applyPeers adds and removes WireGuard peers to match devs.
func (g *Gateway) applyPeers(devs []store.Device) error {
	want := make(map[string]store.Device, len(devs))
	for _, d := range devs {
		want[d.PublicKey] = d
	}
	have, err := g.tun.Peers()
	if err != nil {
		return err
	}
	haveSet := map[string]bool{}
	for _, p := range have {
		k := p.PublicKey.String()
		d, ok := want[k]
		if !ok || len(p.AllowedIPs) != 1 || p.AllowedIPs[0].Addr() != d.Address {
			if err := g.tun.RemovePeer(p.PublicKey); err != nil {
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
			err = g.tun.AddPeer(tunnel.Peer{PublicKey: pk, AllowedIPs: []netip.Prefix{netip.PrefixFrom(d.Address, d.Address.BitLen())}})
		}
		if err != nil {
			// One bad row must not leave every later device unconfigured.
			g.log.Error("device not configured: its key is unusable; rekey or revoke it", slog.String("user", d.User),
				slog.String("device", d.Name), slog.String("err", err.Error()))
		}
	}
	return nil
}

// AddUser creates a user.
func (g *Gateway) AddUser(ctx context.Context, name, email string) (store.User, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	u, err := g.st.AddUser(ctx, name, email)
	if err != nil {
		return u, err
	}
	g.log.Info("user added", slog.String("user", name))
	g.notify(cluster.KindUsers, name, "")
	g.auditEvent(audit.ActorOf(ctx), "user.add", name)
	return u, nil
}

// Users lists users.
func (g *Gateway) Users(ctx context.Context) ([]store.User, error) { return g.st.Users(ctx) }

// SetUserDisabled disables (or enables) a user. Disabling cuts the user's
// live sessions at once and refuses new ones. It returns the sessions cut.
func (g *Gateway) SetUserDisabled(ctx context.Context, name string, disabled bool) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.st.SetUserDisabled(ctx, name, disabled); err != nil {
		return 0, err
	}
	if err := g.syncPeers(ctx); err != nil {
		return 0, fmt.Errorf("gateway: disable user %s: %w", name, err)
	}
	cut := 0
	if disabled {
		cut = g.sessions.Cut(func(s *session.Session) bool { return s.User == name }, session.EndDisabled)
	}
	g.log.Info("user updated", slog.String("user", name), slog.Bool("disabled", disabled), slog.Int("sessions_cut", cut))
	g.notify(map[bool]cluster.Kind{true: cluster.KindDisable, false: cluster.KindUsers}[disabled], name, "")
	g.auditEvent(audit.ActorOf(ctx), map[bool]string{true: "user.disable", false: "user.enable"}[disabled], fmt.Sprintf("%s sessions_cut=%d", name, cut))
	return cut, nil
}

// AddDevice creates a device for user. With publicKey empty, a key pair
// is generated and the profile returned; the private key is not kept.
func (g *Gateway) AddDevice(ctx context.Context, user, name, publicKey string) (adminapi.DeviceResult, error) {
	priv, publicKey, err := deviceKey(publicKey)
	if err != nil {
		return adminapi.DeviceResult{}, fmt.Errorf("gateway: add device %s/%s: %w", user, name, err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	d, err := g.st.AddDevice(ctx, store.NewDevice{User: user, Name: name, PublicKey: publicKey}, g.pool())
	if err != nil {
		return adminapi.DeviceResult{}, err
	}
	if err := g.syncPeers(ctx); err != nil {
		return adminapi.DeviceResult{}, fmt.Errorf("gateway: add device %s/%s: %w", user, name, err)
	}
	res := g.deviceResult(d, priv)
	g.log.Info("device added", slog.String("user", user), slog.String("device", name), slog.String("address", d.Address.String()))
	g.notify(cluster.KindDevices, user, name)
	g.auditEvent(audit.ActorOf(ctx), "device.add", fmt.Sprintf("%s/%s %s", user, name, d.Address))
	return res, nil
}

// pool is where device addresses come from.
func (g *Gateway) pool() store.Pool {
	return store.Pool{Subnet: g.conf().SubnetPrefix(), Reserved: []netip.Addr{g.conf().GatewayAddr()},
		Quarantine: g.conf().Tunnel.AddressQuarantine.Duration, Log: g.log}
}

// deviceKey checks a supplied public key, or generates a key pair when
// publicKey is empty (the private key is then returned, to be shown once).
func deviceKey(publicKey string) (priv tunnel.Key, pub string, err error) {
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

// deviceResult carries the profile when licgate made the key pair.
func (g *Gateway) deviceResult(d store.Device, priv tunnel.Key) adminapi.DeviceResult {
	res := adminapi.DeviceResult{Device: d}
	if priv != (tunnel.Key{}) {
		p := g.profile(d, priv)
		res.Profile = &p
		res.ProfileText = p.String()
	}
	return res
}

// profile renders a device's client profile.
func (g *Gateway) profile(d store.Device, priv tunnel.Key) tunnel.Profile {
	ep := g.conf().Tunnel.Endpoint
	if _, _, err := net.SplitHostPort(ep); err != nil {
		ep = net.JoinHostPort(ep, strconv.Itoa(g.tun.ListenPort()))
	}
	gw := g.conf().GatewayAddr()
	return tunnel.Profile{
		PrivateKey:          priv,
		Address:             netip.PrefixFrom(d.Address, d.Address.BitLen()),
		MTU:                 g.conf().Tunnel.MTU,
		PeerPublicKey:       g.tun.PublicKey(),
		Endpoint:            ep,
		AllowedIPs:          []netip.Prefix{netip.PrefixFrom(gw, gw.BitLen())},
		PersistentKeepalive: int(g.conf().Tunnel.Keepalive.Seconds()),
	}
}

// Devices lists devices (revoked ones too when all is set).
func (g *Gateway) Devices(ctx context.Context, all bool) ([]store.Device, error) {
	return g.st.Devices(ctx, all)
}

// RevokeDevice removes the device's WireGuard peer and cuts its live
// sessions at once (the license server sees the connections close). It
// returns the number of sessions cut.
func (g *Gateway) RevokeDevice(ctx context.Context, user, name string) (int, error) {
	g.mu.Lock()
	d, err := g.st.RevokeDevice(ctx, user, name)
	if err != nil {
		g.mu.Unlock()
		return 0, err
	}
	g.notify(cluster.KindRevoke, user, name) // the others cut theirs meanwhile
	cut, err := g.cutDevice(ctx, d.ID, session.EndRevoked)
	if err != nil {
		return 0, fmt.Errorf("gateway: revoke device %s/%s: %w", user, name, err)
	}
	g.log.Info("device revoked", slog.String("user", user), slog.String("device", name), slog.Int("sessions_cut", cut))
	g.auditEvent(audit.ActorOf(ctx), "device.revoke", fmt.Sprintf("%s/%s sessions_cut=%d", user, name, cut))
	return cut, nil
}

// cutDevice is called with g.mu held, after the store changed, and
// releases it. Order matters: refuse new connections first (identities),
// then cut live ones, and remove or replace the peer only once the closes
// had a moment to reach the device through the tunnel (a removed peer's
// packets are dropped, and its home connection would stay open). The wait
// happens without g.mu, so admin changes and expiry do not stall.
func (g *Gateway) cutDevice(ctx context.Context, id int64, reason string) (int, error) {
	if _, err := g.publishIdentities(ctx); err != nil {
		g.mu.Unlock()
		return 0, err
	}
	match := func(s *session.Session) bool { return s.DeviceID == id }
	cut := g.sessions.Cut(match, reason)
	g.mu.Unlock()
	if cut > 0 {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		g.sessions.WaitGone(wctx, match)
		cancel()
		t := time.NewTimer(cmp.Or(g.revokeFlush, revokeFlush))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return cut, g.syncPeers(context.WithoutCancel(ctx))
}

// RekeyDevice gives a device a new key pair (or the given public key):
// the old key stops working at once (its sessions cut, the FIN delivered,
// then its peer replaced) and the new profile is returned, to be shown once.
func (g *Gateway) RekeyDevice(ctx context.Context, user, name, publicKey string) (adminapi.DeviceResult, error) {
	priv, publicKey, err := deviceKey(publicKey)
	if err != nil {
		return adminapi.DeviceResult{}, fmt.Errorf("gateway: rekey device %s/%s: %w", user, name, err)
	}
	g.mu.Lock()
	d, err := g.st.RekeyDevice(ctx, user, name, publicKey)
	if err != nil {
		g.mu.Unlock()
		return adminapi.DeviceResult{}, err
	}
	g.notify(cluster.KindDevices, user, name)
	cut, err := g.cutDevice(ctx, d.ID, session.EndRekeyed)
	if err != nil {
		return adminapi.DeviceResult{}, fmt.Errorf("gateway: rekey device %s/%s: %w", user, name, err)
	}
	res := g.deviceResult(d, priv)
	g.log.Info("device rekeyed", slog.String("user", user), slog.String("device", name), slog.Int("sessions_cut", cut))
	g.auditEvent(audit.ActorOf(ctx), "device.rekey", fmt.Sprintf("%s/%s sessions_cut=%d", user, name, cut))
	return res, nil
}

// revokeFlush is how long a revoked peer stays after its sessions were
// cut, so the FIN (sent when the table let go of the session) crosses the
// tunnel to the device: nothing in the tunnel reports its delivery. The
// peer can no longer open anything meanwhile.
const revokeFlush = 200 * time.Millisecond

// CutSession ends one live session (the admin's "cut" button); it
// returns 1, or 0 if no such session.
func (g *Gateway) CutSession(ctx context.Context, id uint64) int {
	n := g.sessions.Cut(func(s *session.Session) bool { return s.ID == id }, session.EndAdmin)
	if n > 0 {
		g.auditEvent(audit.ActorOf(ctx), "session.cut", strconv.FormatUint(id, 10))
	}
	return n
}

// Sessions lists live sessions.
func (g *Gateway) Sessions() []session.SessionInfo { return g.sessions.List() }

// ackCounter is a tunnel that holds bare ACKs (netstack mode).
type ackCounter interface{ AckStats() tunnel.AckStats }

// AckStats reports what became of the bare ACKs the netstack held
// (tunnel.ack_delay); zero in tun and kernel modes.
func (g *Gateway) AckStats() (tunnel.AckStats, bool) {
	if at, ok := g.tun.(ackCounter); ok {
		return at.AckStats(), true
	}
	return tunnel.AckStats{}, false
}

// SessionCount is the number of live sessions.
func (g *Gateway) SessionCount() int { return g.sessions.Len() }

// Peers reports every WireGuard peer with its last handshake.
func (g *Gateway) Peers() ([]adminapi.PeerInfo, error) {
	if g.tun == nil {
		return nil, errors.New("gateway: not started")
	}
	ps, err := g.tun.Peers()
	if err != nil {
		return nil, err
	}
	return g.peerInfos(ps), nil
}

// peerInfos attributes peers to devices.
func (g *Gateway) peerInfos(ps []tunnel.PeerStatus) []adminapi.PeerInfo {
	idents := *g.idents.Load()
	out := make([]adminapi.PeerInfo, 0, len(ps))
	for _, p := range ps {
		pi := adminapi.PeerInfo{PublicKey: p.PublicKey.String()}
		if p.Endpoint.IsValid() {
			pi.Endpoint = p.Endpoint.String()
		}
		if !p.LastHandshake.IsZero() {
			t := p.LastHandshake
			pi.LastHandshake = &t
		}
		if len(p.AllowedIPs) == 1 {
			if id, ok := idents[p.AllowedIPs[0].Addr()]; ok {
				pi.User, pi.Device = id.User, id.Device
			}
		}
		if sus, pair := g.shared.Suspect(pi.PublicKey, time.Now()); sus {
			pi.SharedSuspect = true
			pi.Endpoints = []string{pair[0].String(), pair[1].String()}
		}
		out = append(out, pi)
	}
	return out
}

// ListenPort is the WireGuard UDP port in use.
func (g *Gateway) ListenPort() int { return g.tun.ListenPort() }

// PublicKey is the gateway's WireGuard public key.
func (g *Gateway) PublicKey() tunnel.Key { return g.tun.PublicKey() }

// openTunnel starts the configured mode.
func openTunnel(cfg *config.Config, key tunnel.Key, log *slog.Logger) (tunnel.Endpoint, error) {
	tc := tunnel.Config{PrivateKey: key, ListenPort: cfg.ListenPort(), Addresses: []netip.Addr{cfg.GatewayAddr()}, MTU: cfg.Tunnel.MTU}
	if cfg.Tunnel.Mode == tunnel.ModeNetstack {
		tc.AckDelay = cfg.Tunnel.AckDelay.Duration
	}
	return tunnel.Open(cfg.Tunnel.Mode, tc, cfg.Tunnel.Interface, cfg.SubnetPrefix(), log)
}

// Store is the state store (for diagnostics and tests).
func (g *Gateway) Store() store.Backend { return g.st }

func (g *Gateway) sessionStarted(s *session.Session) {
	if !g.noAudit {
		g.auditStart(s)
	}
	g.metrics.SessionsTotal.WithLabelValues(s.Service, s.Proto).Inc()
}

func (g *Gateway) sessionEnded(s *session.Session, reason string) {
	if !g.noAudit {
		g.auditEnd(s, reason)
	}
	g.metrics.Bytes.WithLabelValues(s.Service, "up").Add(float64(s.Up.Load()))
	g.metrics.Bytes.WithLabelValues(s.Service, "down").Add(float64(s.Down.Load()))
}

// denyKinds maps the engine's decision kinds onto denial classes.
var denyKinds = map[acl.Kind]string{
	acl.KindRule:           session.DenyKindRule,
	acl.KindDefault:        session.DenyKindDefault,
	acl.KindOutsideWindow:  session.DenyKindHours,
	acl.KindExpired:        session.DenyKindExpired,
	acl.KindCap:            session.DenyKindCap,
	acl.KindUnknownService: session.DenyKindService,
	acl.KindDisabled:       session.DenyKindDisabled,
	acl.KindSignIn:         session.DenyKindSignIn,
}

// request is what the engine is asked about id using service at now.
func (g *Gateway) request(id *session.Identity, service string, now time.Time, counts acl.Counts) acl.Request {
	return acl.Request{User: id.User, Device: id.Device, Service: service, Source: id.Address, Time: now,
		UserDisabled: id.UserDisabled, LastSignIn: g.lastSignIn(id.User, id.Device), Counts: counts}
}

// portalHint names where a user signs in to unlock.
func (g *Gateway) portalHint() string {
	return ": https://" + g.conf().Tunnel.Address + "/"
}

// Explain says what the live decision would be for a new session of the
// request's user and device now (or at req.At): with the live counts, the
// user's disabled flag and their last sign-in, exactly as admission asks.
func (g *Gateway) Explain(ctx context.Context, req adminapi.ExplainRequest) (adminapi.ExplainResult, error) {
	eng := g.engine.Load()
	at := g.now()
	if req.At != "" {
		var err error
		if at, err = eng.ParseTime(req.At); err != nil {
			return adminapi.ExplainResult{}, err
		}
	}
	id := &session.Identity{User: req.User, Device: req.Device}
	if u, err := g.st.User(ctx, req.User); err == nil {
		id.UserDisabled = u.Disabled
	}
	if ds, err := g.st.Devices(ctx, false); err == nil {
		for _, d := range ds {
			if d.User == req.User && d.Name == req.Device {
				id.Address = d.Address
			}
		}
	}
	var x acl.Explanation
	if g.cl != nil { // caps count every gateway's sessions
		c, err := g.clusterCounts(ctx)
		if err != nil {
			return adminapi.ExplainResult{}, err
		}
		x = eng.Explain(g.request(id, req.Service, at, c))
		return adminapi.ExplainResult{Allow: x.Allow, Rule: x.Rule, Reason: x.Reason, Kind: x.Kind.String(), Explain: x.Text}, nil
	}
	g.sessions.WithCounts(&session.Session{Proto: "tcp", User: req.User, Device: req.Device, Service: req.Service}, func(c acl.Counts) {
		x = eng.Explain(g.request(id, req.Service, at, c))
	})
	return adminapi.ExplainResult{Allow: x.Allow, Rule: x.Rule, Reason: x.Reason, Kind: x.Kind.String(), Explain: x.Text}, nil
}

func (g *Gateway) denied(d session.Denial) {
	g.auditDenial(d)
	g.metrics.Denials.WithLabelValues(d.Service, d.Kind).Inc()
}
