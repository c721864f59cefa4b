package portmap

import (
	"context"
	"errors"
	"fmt"
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
	// State is "idle" (Run not called), "probing", "mapped", "failing"
	// (the router gave no mapping; retried every CheckInterval) or "closed".
	State    string `json:"state"`
	Protocol string `json:"protocol,omitempty"` // "pcp", "natpmp" or "upnp"
	// Gateway is the router's address.
	Gateway      netip.Addr `json:"gateway,omitzero"`
	InternalPort int        `json:"internal_port"`
	// ExternalAddress and ExternalPort are what the internet reaches.
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
	Recreated   int       `json:"recreated"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
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
		st:    Status{State: "idle", InternalPort: cfg.InternalPort, Gateway: cfg.Gateway},
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

func (m *Mapper) fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setErrLocked(err)
	// The external address stays: it is still the router's.
	m.st.State, m.st.Protocol, m.st.ExternalPort, m.st.LeaseExpiry, m.st.MappedSince = "failing", "", 0, time.Time{}, time.Time{}
}

// loop is the Run loop: establish, then renew and check until ctx ends.
func (m *Mapper) loop(ctx context.Context) {
	lease, every := m.cfg.lease(), m.cfg.checkInterval()
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
				m.log.Warn("portmap: no mapping", slog.Any("error", err))
				m.fail(err)
				if !m.sleep(ctx, every) {
					return
				}
				continue
			}
			m.mu.Lock()
			m.active = p
			again := m.hadMapping
			m.hadMapping = true
			m.mu.Unlock()
			m.mapped(p, res, again)
			continue
		}

		// Wait for the next renewal or check, whichever comes first.
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
			m.log.Warn("portmap: renewal or check failed; probing again", slog.Any("error", err))
			m.fail(err)
			m.mu.Lock()
			m.active = nil
			m.mu.Unlock()
			continue
		}
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
	if res.Lease > 0 {
		m.st.LeaseExpiry = now.Add(res.Lease)
	}
	if lost {
		m.st.Recreated++
	}
	if first {
		m.st.MappedSince = now
		attrs := []any{slog.String("protocol", p.name()), slog.String("external", res.External.String()),
			slog.Int("internal_port", m.cfg.InternalPort), slog.Duration("lease", res.Lease)}
		m.log.Info("portmap: port mapped", attrs...)
		if int(res.External.Port()) != m.cfg.externalPort() {
			m.log.Warn("portmap: router granted another external port than asked; clients must use it",
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
	if a := res.External.Addr(); a.IsValid() && a != m.st.ExternalAddress {
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
func (m *Mapper) establish(ctx context.Context) (protocol, mapResult, error) {
	t, err := m.target()
	if err != nil {
		return nil, mapResult{}, err
	}
	var errs []error
	silent := true
	for _, name := range m.cfg.Protocols {
		p := newProtocol(name, t)
		res, err := p.mapPort(ctx, m.cfg.lease())
		if err == nil {
			return p, res, nil
		}
		if ctx.Err() != nil {
			return nil, mapResult{}, ctx.Err()
		}
		m.log.Debug("portmap: protocol failed", slog.String("protocol", name), slog.Any("error", err))
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
		if !errors.Is(err, errNoAnswer) && !errors.Is(err, ErrUnsupported) {
			silent = false
		}
	}
	if silent {
		return nil, mapResult{}, fmt.Errorf("portmap: router at %s answered neither %s: %w", t.gw, m.protoList(), &multiErr{ErrNoRouter, errs})
	}
	return nil, mapResult{}, fmt.Errorf("portmap: router at %s granted no mapping: %w", t.gw, &multiErr{nil, errs})
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
		if src.Addr().Unmap() != m.Status().Gateway || n < 2 || buf[1] != pmpReply|pmpOpAddr || (buf[0] != pmpVersion && buf[0] != pcpVersion) {
			continue
		}
		m.log.Debug("portmap: router announcement", slog.String("from", src.String()))
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
}
