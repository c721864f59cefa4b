package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licgate/licgate/dirsync"
	"github.com/licgate/licgate/portal"
	"github.com/licgate/licgate/signin"
	storeopen "github.com/licgate/licgate/store/open"

	"github.com/licgate/licgate/portmap"
	"github.com/licgate/licgate/service"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/transparent"

	"github.com/licgate/licgate/admission"
	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/certs"
	"github.com/licgate/licgate/cluster"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/identity"
	"github.com/licgate/licgate/mail"
	"github.com/licgate/licgate/session"

	"github.com/licgate/licgate/ddns"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/tunnel"
	"golang.zx2c4.com/wireguard/tun"
)

// Gateway is the daemon: it wires the features (identity, admission,
// the portal, the directory sync, the cluster member) to the parts and
// owns the lifecycle and the listeners. Its methods are safe for
// concurrent use.
type Gateway struct {
	// Users, devices, enrolment links and the identity snapshot (the
	// admin API's and the enrolment page's methods); set by Start.
	*identity.Manager
	// Authorization, explain, re-evaluation, sign-in windows and the
	// enforcement loop (the policy in force: Engine); set by Start.
	*admission.Controller

	cfg atomic.Pointer[config.Config] // swapped whole on reload
	log *slog.Logger

	onReload      func(*config.Config)
	dir           *dirsync.Sync   // nil without a directory
	portmap       *portmap.Mapper // WireGuard UDP; nil unless portmap.enabled
	portmapPublic *portmap.Mapper // the public listener (TCP); nil unless both
	portal        *portal.Portal  // the tunnel portal and sign-in enrolment; set by Start

	st       store.Backend
	tun      tunnel.Endpoint
	sessions *session.SessionTable

	audit     *audit.Writer
	auditLog  *audit.Sessions // the session table's and the proxy's records
	boot      string
	clock     func() time.Time
	closers   []func() // run in reverse by Close
	noAudit   bool
	licStatus admission.StatusFunc // a license manager's own status (services.go)

	certs    *certs.Manager
	lanLn    net.Listener
	publicLn net.Listener
	metrics  *adminapi.Metrics
	ddns     *ddns.Manager // nil without ddns.host; guarded by ddnsMu
	ddnsMu   sync.Mutex
	ddnsStop func()          // stops the running manager (under g.mu)
	loopCtx  context.Context // lives until Close

	// Cluster mode (cluster.go); member is nil without it.
	member          *cluster.Member
	clOpts          clusterOptions       // test knobs (export_test.go)
	onClusterChange func(cluster.Change) // test hook: after a change was applied

	mu      sync.Mutex // serialises changes to the policy (reloads, the directory's groups)
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
	var key tunnel.Key
	auditPrefix := "" // the audit keys of the sessions this gateway holds
	if cfg.Cluster.Enabled {
		// The store opened as PostgreSQL, the cluster joined before
		// anything admits sessions and left after every session ended,
		// its policy in force. Audit keys carry the gateway's ID: only
		// this gateway's open audit sessions are closed below, the
		// others may be other gateways' live ones.
		if key, err = g.startCluster(ctx, cfg); err != nil {
			return fmt.Errorf("gateway: start: %w", err)
		}
		if cfg, err = g.clusterPolicyAtStart(ctx, cfg); err != nil {
			return fmt.Errorf("gateway: start: %w", err)
		}
		g.cfg.Store(cfg) // admission starts with its engine
		auditPrefix = cfg.Cluster.GatewayID + "/"
		g.boot = auditPrefix + g.boot
	} else {
		if g.st, err = storeopen.Store(ctx, storeOptions(cfg, g.log)); err != nil {
			return fmt.Errorf("gateway: start: %w", err)
		}
		g.onClose(func() { g.st.Close() })
	}
	if n, err := g.st.CloseOpenSessions(ctx, auditPrefix, time.Now(), "gateway restarted"); err != nil {
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
	g.auditLog = &audit.Sessions{W: g.audit, Prefix: g.boot, RuleLabel: func(i int) string { return g.Engine().RuleLabel(i) }}
	g.sessions.OnStart = g.sessionStarted
	g.sessions.OnEnd = g.sessionEnded
	for _, w := range cfg.Warnings() {
		g.log.Warn("config", slog.String("warning", w))
	}
	if g.member == nil {
		if key, err = config.LoadOrCreateKey(cfg.Tunnel.PrivateKeyFile); err != nil {
			return fmt.Errorf("gateway: start: %w", err)
		}
	}
	wrap, err := g.forwardWrap(cfg)
	if err != nil {
		return fmt.Errorf("gateway: start: %w", err)
	}
	if g.tun, err = openTunnel(cfg, key, wrap, g.log.With(slog.String("component", "tunnel"))); err != nil {
		return fmt.Errorf("gateway: start: %w", err)
	}
	g.onClose(func() { g.tun.Close() })
	g.Manager = identity.New(identity.Deps{Store: g.st, Peers: g.tun, Sessions: g.sessions, Audit: g.audit,
		Settings: g.identitySettings, Notify: g.notify, PublicURL: g.publicURL, Now: g.now, Logger: g.log})
	g.Controller = admission.New(admission.Deps{Engine: cfg.Engine(), Sessions: g.sessions, Identities: g.Manager, Store: g.st,
		Settings: g.admissionSettings, Shared: g.sharedCounts(), Peers: g.tun.Peers, OnPeers: g.TrackPeers,
		Services: g.services, Status: g.licStatus, Now: g.now, Logger: g.log})
	g.metrics.SetProducts(g.Controller.ProductSeats)
	g.portal = portal.New(portal.Deps{Store: g.st, Identities: g.Manager, SignIns: g.Controller, Audit: g.audit, Settings: g.portalSettings,
		SigninConfig: g.signinConfig, PublicURL: g.publicURL, PublicUp: func() bool { return g.publicLn != nil }, Now: g.now, Logger: g.log,
		GroupsOf: func(u string) []string { return g.Engine().GroupsOf(u) }, Mail: g.sendMail})
	if err := g.SyncPeers(ctx); err != nil {
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
	go g.enforce(loopCtx)
	if g.member != nil {
		g.wg.Add(1)
		go g.watchCluster(loopCtx)
		if cfg.Cluster.VIPAddr().IsValid() {
			g.wg.Add(1)
			go g.takeover(loopCtx)
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
		slog.String("socket", cfg.Socket), slog.Int("devices", len(g.Snapshot())))
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
	if cfg.Tunnel.Forward { // the kernel forwards (forwardWrap): no transparent sockets
		return nil
	}
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

// storeOptions are the store's settings: the local backend in the state
// directory, or a shared PostgreSQL (store/open).
func storeOptions(cfg *config.Config, log *slog.Logger) storeopen.Options {
	return storeopen.Options{Driver: cfg.Store.Driver, StateDir: cfg.StateDir, DSNFile: cfg.Store.DSNFile, Log: log}
}

// onClose registers a step's closer; Close runs them in reverse order.
func (g *Gateway) onClose(f func()) { g.closers = append(g.closers, f) }

// shutdown stops an HTTP server, waiting a little for requests in flight.
func shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
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

// CutSession ends one live session (the admin's "cut" button); it
// returns 1, or 0 if no such session.
func (g *Gateway) CutSession(ctx context.Context, id uint64) int {
	n := g.sessions.Cut(func(s *session.Session) bool { return s.ID == id }, session.EndAdmin)
	if n > 0 {
		g.audit.Event(audit.ActorOf(ctx), "session.cut", strconv.FormatUint(id, 10))
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

// ListenPort is the WireGuard UDP port in use.
func (g *Gateway) ListenPort() int { return g.tun.ListenPort() }

// PublicKey is the gateway's WireGuard public key.
func (g *Gateway) PublicKey() tunnel.Key { return g.tun.PublicKey() }

// openTunnel starts the configured mode.
func openTunnel(cfg *config.Config, key tunnel.Key, wrap func(raw, filtered tun.Device) tun.Device, log *slog.Logger) (tunnel.Endpoint, error) {
	tc := tunnel.Config{PrivateKey: key, ListenPort: cfg.ListenPort(), Addresses: []netip.Addr{cfg.GatewayAddr()}, MTU: cfg.Tunnel.MTU}
	if wrap != nil { // tunnel.forward
		return tunnel.NewTUNWrapped(tc, cfg.Tunnel.Interface, cfg.SubnetPrefix(), wrap, log)
	}
	if cfg.Tunnel.Mode == tunnel.ModeNetstack {
		tc.AckDelay = cfg.Tunnel.AckDelay.Duration
	}
	return tunnel.Open(cfg.Tunnel.Mode, tc, cfg.Tunnel.Interface, cfg.SubnetPrefix(), log)
}

// identitySettings are the identity manager's settings in force.
func (g *Gateway) identitySettings() identity.Settings {
	c := g.conf()
	return identity.Settings{
		Pool:     store.Pool{Subnet: c.SubnetPrefix(), Reserved: []netip.Addr{c.GatewayAddr()}, Quarantine: c.Tunnel.AddressQuarantine.Duration, Log: g.log},
		Endpoint: c.Tunnel.Endpoint, MTU: c.Tunnel.MTU, Keepalive: c.Tunnel.Keepalive.Duration, Gateway: c.GatewayAddr(),
		PublicListen: c.Public.Listen != "", LinkTTL: c.Public.LinkTTL.Duration, ApprovalTTL: c.Signin.Enrol.ApprovalTTL.Duration,
	}
}

// admissionSettings are the admission controller's settings in force.
func (g *Gateway) admissionSettings() admission.Settings {
	c := g.conf()
	return admission.Settings{WindowGrace: c.Enforcement.WindowGrace.Duration, Portal: c.Tunnel.Address,
		UnlockUser: c.Signin.Unlock == config.UnlockUser, Interval: c.Enforcement.Interval.Duration,
		VanishedAfter: c.Enforcement.VanishedAfter.Duration, AuditRetention: c.Audit.Retention.Duration}
}

// portalSettings are the portal's settings in force.
func (g *Gateway) portalSettings() portal.Settings {
	c := g.conf()
	return portal.Settings{StateDir: c.StateDir, TunnelAddress: c.Tunnel.Address, SignIn: c.Signin.Issuer != "",
		UnlockUser: c.Signin.Unlock == config.UnlockUser, EnrolEnabled: c.Signin.Enrol.Enabled, MaxDevices: c.Signin.Enrol.MaxDevices,
		NeedsApproval: c.NeedsApproval, ApprovalTTL: c.Signin.Enrol.ApprovalTTL.Duration, MaxPending: c.Signin.Enrol.MaxPending,
		Notify: c.Signin.Enrol.Notify, Organization: c.SMTP.Organization, ConsoleURL: c.ConsoleURL()}
}

// sendMail sends msg through smtp: (signin.enrol.notify requires it).
func (g *Gateway) sendMail(ctx context.Context, msg mail.Message) error {
	return mail.New(g.conf().MailConfig(), g.log.With(slog.String("component", "mail"))).Send(ctx, msg)
}

// signinConfig is the sign-in provider's configuration in force.
func (g *Gateway) signinConfig(redirect string, key []byte) signin.Config {
	return g.conf().SigninConfig(redirect, key)
}

// enforce runs the enforcement loop until ctx ends.
func (g *Gateway) enforce(ctx context.Context) {
	defer g.wg.Done()
	g.Controller.Run(ctx)
}

// auditEvent records an admin or system action.
func (g *Gateway) auditEvent(actor, action, detail string) { g.audit.Event(actor, action, detail) }

// Store is the state store (for diagnostics and tests).
func (g *Gateway) Store() store.Backend { return g.st }

func (g *Gateway) sessionStarted(s *session.Session) {
	if !g.noAudit {
		g.auditLog.Start(s)
	}
	g.metrics.SessionsTotal.WithLabelValues(s.Service, s.Proto).Inc()
}

func (g *Gateway) sessionEnded(s *session.Session, reason string) {
	if !g.noAudit {
		g.auditLog.End(s, reason)
	}
	g.metrics.Bytes.WithLabelValues(s.Service, "up").Add(float64(s.Up.Load()))
	g.metrics.Bytes.WithLabelValues(s.Service, "down").Add(float64(s.Down.Load()))
}

func (g *Gateway) denied(d session.Denial) {
	d = g.NameHolders(d) // a cap refusal names who holds the seats
	g.auditLog.Denial(d)
	g.metrics.Denials.WithLabelValues(d.Service, d.Kind).Inc()
}
