package portmap

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/licgate/licgate/portmap/internal/pxp"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/licgate/licgate/ddns"
)

// Mapper keeps one UDP port mapped on the router.
//
//	New --Run--> probing --(granted)--> mapped --(check/renew fails)--> probing
//	                 \--(no answer)--> failing --(CheckInterval)--> probing
//	any --Close or ctx end--> mapping removed --> closed
type Mapper struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	st      Status
	active  protocol
	running bool
	closed  bool
	// hadMapping: a mapping existed before, so a new one re-creates it.
	hadMapping bool
	nonce      [12]byte // PCP mapping nonce, see target.nonce
	// wake cuts the wait short: the router announced a restart.
	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// Status is a snapshot of the mapping, for the API, console, metrics and
// `licgate status`.
type Status struct {
	// State is "idle" (Run not called), "probing", "mapped", "refused"
	// (the router answered and said no: see LastError for its answer and
	// Fix for what to do; retried rarely, see Config.RetryMax), "failing"
	// (no usable answer; retried with a growing wait) or "closed".
	State    string `json:"state"`
	Protocol string `json:"protocol,omitempty"` // "pcp", "natpmp" or "upnp"
	// Network is "udp" (WireGuard) or "tcp" (the public enrolment page).
	Network string `json:"network"`
	// Gateway is the router's address.
	Gateway      netip.Addr `json:"gateway,omitzero"`
	InternalPort int        `json:"internal_port"`
	// AskedPort is the external port asked for first (Config.ExternalPort,
	// or InternalPort).
	AskedPort int `json:"asked_port,omitempty"`
	// ExternalAddress and ExternalPort are what the internet reaches:
	// links and profiles must carry ExternalPort, which differs from
	// AskedPort when the router refused that one (then the mapper asked
	// for external = internal) or chose another.
	ExternalAddress netip.Addr `json:"external_address,omitzero"`
	ExternalPort    int        `json:"external_port,omitzero"`
	// NotPublic: the router's external address is private or CGNAT:
	// another NAT sits in front of it and the mapping is not reachable
	// from the internet.
	NotPublic bool `json:"not_public,omitempty"`
	// LeaseExpiry is when the router drops the mapping unless renewed;
	// zero for a permanent UPnP mapping.
	LeaseExpiry time.Time `json:"lease_expiry,omitzero"`
	MappedSince time.Time `json:"mapped_since,omitzero"`
	LastCheck   time.Time `json:"last_check,omitzero"`
	// Renewals counts successful renewals and checks.
	Renewals int `json:"renewals"`
	// Recreated counts mappings the router lost (reboot, epoch reset,
	// UPnP entry gone) and the mapper made again.
	Recreated int `json:"recreated"`
	// LastError is the latest failure, with the router's answer; cleared
	// when a mapping is granted or renewed.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Fix says what to change when the state is "refused" or "failing"
	// (for `licgate status`, doctor and setup's "left to do").
	Fix string `json:"fix,omitempty"`
	// Failures counts failed attempts in a row; NextAttempt is when the
	// mapper asks the router again.
	Failures    int       `json:"failures,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

// LeftToDo says what a person must do about this mapping, for setup's
// "left to do" and the doctor: "" while it is mapped (or not yet tried),
// else which port, what the router answered and the fix, for example
// "forward TCP port 443: the router refused (...606); fix: listen on an
// unprivileged port ...".
func (s Status) LeftToDo() string {
	if s.State != "refused" && s.State != "failing" {
		return ""
	}
	what := "did not answer"
	if s.State == "refused" {
		what = "refused"
	}
	out := fmt.Sprintf("forward %s port %d to this host: the router %s (%s)", strings.ToUpper(cmp.Or(s.Network, "udp")), s.InternalPort, what, s.LastError)
	if s.Fix != "" {
		out += "; fix: " + s.Fix
	}
	return out
}

// New returns a Mapper for cfg. It touches no network; Run does. A nil
// logger discards.
func New(cfg Config, logger *slog.Logger) *Mapper {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg.Protocols = append([]string(nil), cfg.protocols()...)
	return &Mapper{
		cfg:   cfg,
		log:   logger,
		nonce: newNonce(),
		wake:  make(chan struct{}, 1),
		st: Status{State: "idle", Network: cfg.network(), InternalPort: cfg.InternalPort,
			AskedPort: cfg.externalPort(), Gateway: cfg.Gateway},
	}
}

// Status returns a copy of the current state.
func (m *Mapper) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st
}

var errRunning = errors.New("portmap: Run already running")

// Run maps the port and keeps it mapped until ctx ends or Close is called,
// then removes the mapping. Router failures are retried (see Status); Run
// returns an error only for a bad configuration, a second concurrent Run,
// or a Run after Close (net.ErrClosed). It returns nil when stopped.
func (m *Mapper) Run(ctx context.Context) error {
	if err := m.cfg.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return net.ErrClosed
	}
	if m.running {
		m.mu.Unlock()
		return errRunning
	}
	ctx, cancel := context.WithCancel(ctx)
	m.running, m.cancel, m.done = true, cancel, make(chan struct{})
	done := m.done
	m.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(1)
	go m.announcements(ctx, &wg)
	defer func() {
		cancel()
		wg.Wait()
		m.release()
		m.mu.Lock()
		m.running = false
		m.mu.Unlock()
		close(done)
	}()
	m.loop(ctx)
	return nil
}

// Close stops Run, removes the mapping from the router and waits for
// both. The second call returns net.ErrClosed.
func (m *Mapper) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return net.ErrClosed
	}
	m.closed = true
	cancel, done, running := m.cancel, m.done, m.running
	m.mu.Unlock()
	if running {
		cancel()
		<-done
	}
	m.release()
	m.mu.Lock()
	m.st.State = "closed"
	m.mu.Unlock()
	return nil
}

// release removes the active mapping, if any.
func (m *Mapper) release() {
	m.mu.Lock()
	p := m.active
	m.active = nil
	m.mu.Unlock()
	if p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.timeout())
	defer cancel()
	err := p.unmap(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.log.Warn("portmap: removing the mapping failed; the router drops it when the lease ends",
			slog.String("protocol", p.name()), slog.Any("error", err))
		m.setErrLocked(fmt.Errorf("portmap: remove mapping: %w", err))
	} else {
		m.log.Info("portmap: mapping removed", slog.String("protocol", p.name()), slog.Int("external_port", m.st.ExternalPort))
	}
	m.st.State, m.st.Protocol, m.st.ExternalPort, m.st.LeaseExpiry, m.st.MappedSince = "idle", "", 0, time.Time{}, time.Time{}
}

func (m *Mapper) setErrLocked(err error) {
	m.st.LastError, m.st.LastErrorAt = err.Error(), time.Now()
}

// fail records a failed attempt to get a mapping and the wait before the
// next one.
func (m *Mapper) fail(err error, failures int, wait time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setErrLocked(err)
	m.st.State = "failing"
	if IsRefused(err) {
		m.st.State = "refused"
	}
	m.st.Fix = m.fixLocked(err)
	m.st.Failures, m.st.NextAttempt = failures, time.Now().Add(wait)
	// The external address stays: it is still the router's.
	m.st.Protocol, m.st.ExternalPort, m.st.LeaseExpiry, m.st.MappedSince = "", 0, time.Time{}, time.Time{}
}

// fixLocked says what to do about err, for Status.Fix.
func (m *Mapper) fixLocked(err error) string {
	netw, in, ask := strings.ToUpper(m.cfg.network()), m.cfg.InternalPort, m.cfg.externalPort()
	switch {
	case IsRefused(err) && in < 1024:
		return fmt.Sprintf("the router's rules forbid forwarding to %s port %d (the usual rule allows only ports 1024-65535): listen on an unprivileged port (public.listen: \":8443\" for the enrolment page), or allow port %d for this host on the router, or forward it by hand", netw, in, in)
	case errors.Is(err, ErrConflict):
		// IGDv1 routers answer 718 for a rule's refusal too.
		return fmt.Sprintf("%s port %d is forwarded to another host on the router, or its rules forbid it: remove that forwarding there, or set portmap.external_port to a free port, or allow the port for this host", netw, ask)
	case IsRefused(err):
		return fmt.Sprintf("the router's rules forbid forwarding %s port %d to this host: allow it on the router (miniupnpd: allow %d <this host>/32 %d; FRITZ!Box: permit independent port sharing for this device), or forward it by hand", netw, in, in, in)
	case errors.Is(err, ErrNoGateway):
		return "set portmap.gateway to the router's LAN address"
	case errors.Is(err, ErrNoRouter):
		return fmt.Sprintf("enable UPnP (or NAT-PMP/PCP) on the router, check portmap.gateway, or forward %s port %d to this host by hand", netw, in)
	}
	return fmt.Sprintf("see the error; or forward %s port %d to this host by hand", netw, in)
}

// loop is the Run loop: establish, then renew and check until ctx ends.
func (m *Mapper) loop(ctx context.Context) {
	lease, every := m.cfg.lease(), m.cfg.checkInterval()
	failures := 0
	for ctx.Err() == nil {
		m.mu.Lock()
		p := m.active
		m.mu.Unlock()
		if p == nil {
			m.mu.Lock()
			m.st.State = "probing"
			m.mu.Unlock()
			p, res, err := m.establish(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				failures++
				wait := m.cfg.backoff(failures, IsRefused(err))
				if IsRefused(err) {
					m.log.Warn("portmap: the router refused the mapping; asking again later",
						slog.Any("error", err), slog.Duration("next_attempt_in", wait))
				} else {
					m.log.Warn("portmap: no mapping", slog.Any("error", err), slog.Duration("next_attempt_in", wait))
				}
				m.fail(err, failures, wait)
				if !m.sleep(ctx, wait) {
					return
				}
				continue
			}
			failures = 0
			m.mu.Lock()
			m.active = p
			again := m.hadMapping
			m.hadMapping = true
			m.mu.Unlock()
			m.mapped(p, res, again)
			continue
		}

		// Wait for the next renewal or check, whichever comes first; after
		// a failed renewal, the retry.
		st := m.Status()
		next, renew := st.LastCheck.Add(every), false
		if !st.LeaseExpiry.IsZero() {
			half := st.LeaseExpiry.Sub(st.LastCheck) / 2
			if half < time.Second {
				half = time.Second
			}
			if at := st.LastCheck.Add(half); at.Before(next) {
				next, renew = at, true
			}
		}
		if failures > 0 {
			next = st.NextAttempt
		}
		if !m.sleep(ctx, time.Until(next)) {
			return
		}
		var (
			res              mapResult
			present, renewed bool
			err              error
		)
		if renew {
			res, err = p.mapPort(ctx, lease)
			present, renewed = err == nil, true
		} else {
			res, present, renewed, err = p.check(ctx, lease)
		}
		if ctx.Err() != nil {
			return
		}
		lost := res.Restarted
		if err == nil && !present {
			// The router forgot the mapping: make it again.
			lost = true
			res, err = p.mapPort(ctx, lease)
			renewed = true
		}
		if err != nil {
			err = fmt.Errorf("portmap: %s at %s: %w", p.name(), m.Status().Gateway, err)
			failures++
			if exp := m.Status().LeaseExpiry; !IsRefused(err) && (exp.IsZero() || time.Until(exp) > time.Second) {
				// No (good) answer, but the router still holds the
				// mapping until its lease ends: it stays mapped, and the
				// renewal is tried again before then.
				wait := m.cfg.backoff(failures, false)
				if !exp.IsZero() {
					wait = min(wait, max(time.Until(exp)/2, time.Second))
				}
				m.log.Warn("portmap: renewal or check failed; the mapping holds until its lease ends, trying again",
					slog.Any("error", err), slog.Duration("next_attempt_in", wait))
				m.mu.Lock()
				m.setErrLocked(err)
				m.st.Failures, m.st.NextAttempt = failures, time.Now().Add(wait)
				m.mu.Unlock()
				continue
			}
			m.log.Warn("portmap: renewal or check failed; probing again", slog.Any("error", err))
			m.fail(err, failures, 0)
			m.mu.Lock()
			m.active = nil
			m.mu.Unlock()
			continue
		}
		failures = 0
		if lost {
			m.log.Warn("portmap: router lost the mapping (restarted?); made it again", slog.String("protocol", p.name()))
		}
		if renewed || lost {
			m.mapped(p, res, lost)
		} else {
			m.checked(res)
		}
	}
}

// mapped records a granted (new or renewed) mapping.
func (m *Mapper) mapped(p protocol, res mapResult, lost bool) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	first := m.st.State != "mapped" || m.st.Protocol != p.name()
	prevPort := m.st.ExternalPort
	m.st.State, m.st.Protocol = "mapped", p.name()
	m.st.ExternalAddress, m.st.ExternalPort = res.External.Addr(), int(res.External.Port())
	m.st.NotPublic = ddns.CheckPublic(res.External.Addr()) != nil
	m.st.LastCheck = now
	m.st.LeaseExpiry = time.Time{}
	if res.Lease > m.cfg.lease() {
		// Never trust a lease longer than asked: renew as if the router
		// had granted what was asked for.
		m.log.Warn("portmap: router granted a longer lease than asked; renewing as if it granted what was asked",
			slog.Duration("granted", res.Lease), slog.Duration("asked", m.cfg.lease()))
		res.Lease = m.cfg.lease()
	}
	if res.Lease > 0 {
		m.st.LeaseExpiry = now.Add(res.Lease)
	}
	if lost {
		m.st.Recreated++
	}
	// A success clears what went wrong before.
	m.st.LastError, m.st.LastErrorAt, m.st.Fix, m.st.Failures, m.st.NextAttempt = "", time.Time{}, "", 0, time.Time{}
	if first {
		m.st.MappedSince = now
		attrs := []any{slog.String("protocol", p.name()), slog.String("network", m.cfg.network()), slog.String("external", res.External.String()),
			slog.Int("internal_port", m.cfg.InternalPort), slog.Duration("lease", res.Lease)}
		m.log.Info("portmap: port mapped", attrs...)
		if int(res.External.Port()) != m.cfg.externalPort() {
			m.log.Warn("portmap: router granted another external port than asked first; links and profiles must use it",
				slog.Int("asked", m.cfg.externalPort()), slog.Int("granted", int(res.External.Port())))
		}
		if m.st.NotPublic {
			m.log.Warn("portmap: the router's external address is not public: another NAT is in front of it, the mapping is not reachable from the internet",
				slog.String("address", res.External.Addr().String()))
		}
	} else {
		m.st.Renewals++
		if int(res.External.Port()) != prevPort {
			m.log.Warn("portmap: router changed the external port; clients must use the new one",
				slog.Int("from", prevPort), slog.Int("to", int(res.External.Port())))
		}
	}
}

// checked records a check that found the mapping in place.
func (m *Mapper) checked(res mapResult) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st.LastCheck = time.Now()
	m.st.Renewals++
	m.st.LastError, m.st.LastErrorAt, m.st.Fix, m.st.Failures, m.st.NextAttempt = "", time.Time{}, "", 0, time.Time{}
	if a := res.External.Addr(); a.IsValid() && !a.IsUnspecified() && a != m.st.ExternalAddress {
		m.log.Info("portmap: external address changed", slog.String("from", m.st.ExternalAddress.String()), slog.String("to", a.String()))
		m.st.ExternalAddress = a
		m.st.NotPublic = ddns.CheckPublic(a) != nil
	}
}

func (m *Mapper) target() (target, error) {
	gw := m.cfg.Gateway
	if !gw.IsValid() {
		var err error
		if gw, err = defaultGateway(); err != nil {
			return target{}, fmt.Errorf("portmap: %w", err)
		}
	}
	gw = gw.Unmap()
	m.mu.Lock()
	m.st.Gateway = gw
	m.mu.Unlock()
	return target{
		gw:           gw,
		internalPort: uint16(m.cfg.InternalPort),
		externalPort: uint16(m.cfg.externalPort()),
		tcp:          m.cfg.Network == "tcp",
		desc:         m.cfg.description(),
		nonce:        m.nonce,
		timeout:      m.cfg.timeout(),
		dial:         m.cfg.dial(),
		listen:       m.cfg.listenPacket(),
	}, nil
}

func newProtocol(name string, t target) protocol {
	switch name {
	case PCP:
		return newPCP(t)
	case NATPMP:
		return newPMP(t)
	}
	return newUPnP(t)
}

var protoTitle = map[string]string{PCP: "PCP", NATPMP: "NAT-PMP", UPnP: "UPnP"}

// establish tries each protocol in order and returns the first mapping.
// With each, it asks for the preferred external port (Config.ExternalPort)
// first; if the router refuses it or offers another one, it asks for
// external = internal, which the usual rule (ports 1024-65535 on both
// sides) allows for an unprivileged internal port.
func (m *Mapper) establish(ctx context.Context) (protocol, mapResult, error) {
	t, err := m.target()
	if err != nil {
		return nil, mapResult{}, err
	}
	ports := []uint16{t.externalPort}
	if t.externalPort != t.internalPort {
		ports = append(ports, t.internalPort)
	}
	var errs []error
	silent, refused := true, false
	pcpAnswered := false
	for _, name := range m.cfg.Protocols {
		if name == NATPMP && pcpAnswered {
			// The router's PCP server answered: NAT-PMP is the same
			// server with the same rules (and miniupnpd, asked for a port
			// its rules forbid, walks all 65,535 ports for NAT-PMP).
			m.log.Debug("portmap: not asking NAT-PMP: the router answered PCP")
			continue
		}
		for i, ext := range ports {
			tp := t
			tp.externalPort = ext
			p := newProtocol(name, tp)
			res, err := p.mapPort(ctx, m.cfg.lease())
			if ctx.Err() != nil {
				return nil, mapResult{}, ctx.Err()
			}
			if err == nil && i == 0 && len(ports) > 1 && res.External.Port() != ext {
				// Offered another port than the preferred one: the one
				// that equals the internal port is easier to explain.
				m.log.Info("portmap: router offered another external port than the preferred one; asking for the internal port instead",
					slog.String("protocol", name), slog.Int("preferred", int(ext)), slog.Int("offered", int(res.External.Port())))
				if err := p.unmap(ctx); err != nil {
					m.log.Warn("portmap: removing the offered mapping failed; the router drops it when its lease ends", slog.Any("error", err))
				}
				silent = false
				continue
			}
			if err == nil {
				if i > 0 {
					m.log.Warn("portmap: the router refused the preferred external port; mapped the internal port instead",
						slog.String("protocol", name), slog.Int("preferred", int(ports[0])), slog.Int("external_port", int(res.External.Port())))
				}
				return p, res, nil
			}
			m.log.Debug("portmap: protocol failed", slog.String("protocol", name), slog.Int("external_port", int(ext)), slog.Any("error", err))
			label := name
			if len(ports) > 1 {
				label = fmt.Sprintf("%s (external port %d)", name, ext)
			}
			errs = append(errs, fmt.Errorf("%s: %w", label, err))
			if !errors.Is(err, errNoAnswer) && !errors.Is(err, ErrUnsupported) {
				silent, pcpAnswered = false, pcpAnswered || name == PCP
			}
			if !IsRefused(err) {
				break // another external port does not help
			}
			refused = true
		}
	}
	netw := strings.ToUpper(m.cfg.network())
	switch {
	case silent:
		return nil, mapResult{}, fmt.Errorf("portmap: router at %s answered neither %s: %w", t.gw, m.protoList(), &multiErr{ErrNoRouter, errs})
	case refused:
		return nil, mapResult{}, fmt.Errorf("portmap: router at %s refused to forward %s port %d: %w", t.gw, netw, t.internalPort, &multiErr{nil, errs})
	}
	return nil, mapResult{}, fmt.Errorf("portmap: router at %s granted no mapping for %s port %d: %w", t.gw, netw, t.internalPort, &multiErr{nil, errs})
}

func (m *Mapper) protoList() string {
	var titles []string
	for _, p := range m.cfg.Protocols {
		titles = append(titles, protoTitle[p])
	}
	if len(titles) == 1 {
		return titles[0]
	}
	return strings.Join(titles[:len(titles)-1], ", ") + " nor " + titles[len(titles)-1]
}

// multiErr joins the errors of each protocol on one line.
type multiErr struct {
	sentinel error
	errs     []error
}

func (e *multiErr) Error() string {
	s := make([]string, len(e.errs))
	for i, err := range e.errs {
		s[i] = err.Error()
	}
	return strings.Join(s, "; ")
}

func (e *multiErr) Unwrap() []error {
	if e.sentinel == nil {
		return e.errs
	}
	return append([]error{e.sentinel}, e.errs...)
}

// ExternalAddr asks the router for its external (WAN) address over the
// protocol that holds the mapping (PCP tells it only with a mapping: the
// address of its last renewal is returned). Before a mapping exists it
// asks with NAT-PMP and UPnP, in the configured order.
func (m *Mapper) ExternalAddr(ctx context.Context) (netip.Addr, error) {
	m.mu.Lock()
	p := m.active
	m.mu.Unlock()
	if p != nil {
		a, err := p.externalAddr(ctx)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("portmap: external address: %w", err)
		}
		return a, nil
	}
	t, err := m.target()
	if err != nil {
		return netip.Addr{}, err
	}
	var errs []error
	for _, name := range m.cfg.Protocols {
		if name == PCP {
			continue
		}
		a, err := newProtocol(name, t).externalAddr(ctx)
		if err == nil {
			return a, nil
		}
		if ctx.Err() != nil {
			return netip.Addr{}, ctx.Err()
		}
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	if len(errs) == 0 {
		return netip.Addr{}, fmt.Errorf("portmap: external address: PCP tells it only with a mapping, and none is held yet")
	}
	return netip.Addr{}, fmt.Errorf("portmap: external address from router at %s: %w", t.gw, &multiErr{nil, errs})
}

// Name implements ddns.Source.
func (m *Mapper) Name() string { return "portmap" }

// Detect implements ddns.Source: the router's external address, checked
// to be public (behind a second NAT the answer is of no use to DDNS).
func (m *Mapper) Detect(ctx context.Context, fam ddns.Family) (netip.Addr, error) {
	if fam != ddns.IPv4 {
		return netip.Addr{}, fmt.Errorf("portmap: the router maps IPv4 only, no %s address", fam)
	}
	a, err := m.ExternalAddr(ctx)
	if err != nil {
		return netip.Addr{}, err
	}
	if err := ddns.CheckPublic(a); err != nil {
		return netip.Addr{}, fmt.Errorf("portmap: router's external address: %w", err)
	}
	return a, nil
}

var _ ddns.Source = (*Mapper)(nil)

// sleep waits d, or less when the router announces a restart; it
// reports false when ctx ended.
func (m *Mapper) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-m.wake:
		return true
	case <-ctx.Done():
		return false
	}
}

// announcePort is where PCP and NAT-PMP routers multicast (224.0.0.1)
// that they restarted or their external address changed (RFC 6886
// 3.2.1, RFC 6887 14.1.3).
const announcePort = 5350

// announcements listens for those announcements and wakes the Run loop,
// which then checks the mapping at once instead of at the next
// CheckInterval. Without the port (taken, or no permission) the periodic
// check alone does the job.
func (m *Mapper) announcements(ctx context.Context, wg *sync.WaitGroup) {
	defer wg.Done()
	if !slices.Contains(m.cfg.Protocols, PCP) && !slices.Contains(m.cfg.Protocols, NATPMP) {
		return
	}
	listen := m.cfg.ListenPacket
	if listen == nil {
		listen = (&net.ListenConfig{Control: reuseAddr}).ListenPacket
	}
	pc, err := listen(ctx, "udp4", fmt.Sprintf(":%d", announcePort))
	if err != nil {
		m.log.Debug("portmap: not listening for router announcements", slog.Any("error", err))
		return
	}
	defer pc.Close()
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	buf := make([]byte, 1100)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		src, _ := netip.ParseAddrPort(from.String())
		if src.Addr().Unmap() != m.Status().Gateway || n < 2 || buf[1] != pxp.PMPReply|pxp.PMPOpAddr || (buf[0] != pxp.PMPVersion && buf[0] != pxp.PCPVersion) {
			continue
		}
		m.log.Debug("portmap: router announcement", slog.String("from", src.String()))
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
}
