package ddns

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sort"
	"sync"
	"time"
)

// Provider is one configured updater.
type Provider struct {
	Name    string
	Updater Updater
	// Verify reads the name's current value at its authoritative server.
	// If nil and Updater implements Verifier, that is used.
	Verify Verifier
	// Fingerprint identifies the provider's configuration for holds: a
	// stop or back-off stored with one fingerprint is obeyed after a
	// restart only while the fingerprint is the same. If empty, the
	// Updater's Fingerprint method (all updaters in this package have
	// one), or else its type name.
	Fingerprint string
}

func (p Provider) verifier() Verifier {
	if p.Verify != nil {
		return p.Verify
	}
	v, _ := p.Updater.(Verifier)
	return v
}

// Fingerprinter is implemented by updaters that can identify their
// configuration without revealing secrets.
type Fingerprinter interface {
	Fingerprint() string
}

// fingerprint of p's configuration together with host (a new host name
// releases a hold too).
func (p Provider) fingerprint(host string) string {
	fp := p.Fingerprint
	if fp == "" {
		if f, ok := p.Updater.(Fingerprinter); ok {
			fp = f.Fingerprint()
		} else {
			fp = fmt.Sprintf("%T", p.Updater)
		}
	}
	return configHash("host", host, "provider", fp)
}

// configHash hashes key/value pairs; values marked secret by the caller
// are themselves hashes, so no secret can be read back from a store.
func configHash(kv ...string) string {
	h := sha256.New()
	for _, s := range kv {
		fmt.Fprintf(h, "%d:%s;", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// secretHash stands in for a secret inside a fingerprint.
func secretHash(s string) string {
	sum := sha256.Sum256([]byte("licgate-ddns-secret\x00" + s))
	return hex.EncodeToString(sum[:])
}

// Hold is a provider's stop (Fatal) or back-off (Until), kept in the
// StateStore so a restart obeys it: after badauth, abuse or 911 nothing is
// sent again at once. A hold binds to ConfigFingerprint: once the
// provider's configuration (or the host) changes, it is dropped.
type Hold struct {
	Reason            string    // the provider's answer: badauth, abuse, 911, NOTAUTH ...
	Fatal             bool      // stopped until the configuration changes
	Until             time.Time // back-off: no update before this; zero with Fatal
	ConfigFingerprint string    // Provider fingerprint when the hold was set
}

// IsZero reports whether h is no hold.
func (h Hold) IsZero() bool { return h == Hold{} }

// StateStore persists what must survive a restart: the last address each
// provider accepted (so an unchanged address is never re-sent) and each
// provider's hold (so a stopped or backing-off provider stays so).
//
// Methods are called from Check, one provider at a time per method
// call, possibly from several goroutines at once: implementations must be
// safe for concurrent use. An error is logged and the Manager goes on as
// if nothing was stored.
type StateStore interface {
	// LoadDDNS returns the address provider last accepted for fam, or the
	// zero Addr if none.
	LoadDDNS(provider string, fam Family) (netip.Addr, error)
	// SaveDDNS records that provider accepted addr for fam at at.
	SaveDDNS(provider string, fam Family, addr netip.Addr, at time.Time) error
	// DDNSHold returns provider's hold, or the zero Hold (and nil) if none.
	DDNSHold(ctx context.Context, provider string) (Hold, error)
	// SetDDNSHold stores provider's hold, replacing any earlier one.
	SetDDNSHold(ctx context.Context, provider string, h Hold) error
	// ClearDDNSHold removes provider's hold; none is not an error.
	ClearDDNSHold(ctx context.Context, provider string) error
}

// MemState is an in-memory StateStore (tests, demo).
type MemState struct {
	mu    sync.Mutex
	m     map[string]netip.Addr
	holds map[string]Hold
}

func (s *MemState) LoadDDNS(p string, f Family) (netip.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[p+"/"+f.String()], nil
}

func (s *MemState) SaveDDNS(p string, f Family, a netip.Addr, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]netip.Addr{}
	}
	s.m[p+"/"+f.String()] = a
	return nil
}

func (s *MemState) DDNSHold(_ context.Context, p string) (Hold, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.holds[p], nil
}

func (s *MemState) SetDDNSHold(_ context.Context, p string, h Hold) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holds == nil {
		s.holds = map[string]Hold{}
	}
	s.holds[p] = h
	return nil
}

func (s *MemState) ClearDDNSHold(_ context.Context, p string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.holds, p)
	return nil
}

// Status is one provider's state for one family.
type Status struct {
	Provider    string     `json:"provider"`
	Family      string     `json:"family"`
	Host        string     `json:"host"`
	Detected    netip.Addr `json:"detected,omitzero"`
	LastAddr    netip.Addr `json:"last_addr,omitzero"`
	LastSuccess *time.Time `json:"last_success,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	Stopped     bool       `json:"stopped"`
	Hold        string     `json:"hold,omitempty"` // the stored hold's reason, while one is in force
	Updates     int        `json:"updates"`
	Errors      int        `json:"errors"`

	failures int
}

// Result labels for OnResult.
const (
	ResultUpdated   = "updated"
	ResultUnchanged = "unchanged"
	ResultError     = "error"
	ResultFatal     = "fatal"
	ResultBackoff   = "backoff"
)

// Manager keeps Host on the detected address with every provider.
type Manager struct {
	Host      string
	Families  []Family // if empty, IPv4 only
	Detector  *Detector
	Providers []Provider
	State     StateStore
	// Interval between polls. If zero, 60s; a tenth of it is jitter.
	Interval time.Duration
	// Now is the clock for backoff decisions. If nil, time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// OnChange is told when the detected address of a family changes.
	OnChange func(fam Family, old, new netip.Addr)
	// OnResult is told the outcome of every provider decision (metrics).
	OnResult func(provider string, fam Family, result string)
	// Watch, if set, signals interface changes (see WatchInterfaces). A
	// check follows Debounce after the first signal of a burst.
	Watch <-chan struct{}
	// Debounce is how long Run gathers Watch signals before it checks:
	// a container start (veths created, renamed, moved) or a PPPoE
	// reconnect is one check, not a dozen. If zero, 2s.
	Debounce time.Duration
	// After is the timer for Run's waits (tests pass a fake clock). If
	// nil, time.After.
	After func(d time.Duration) <-chan time.Time

	checkMu  sync.Mutex // one check at a time (the loop and `update --now`)
	mu       sync.Mutex
	status   map[string]*Status
	detected map[Family]netip.Addr
	trigger  chan struct{}
	once     sync.Once
	holdsIn  bool            // stored holds were read (at the first Check; under checkMu)
	holdsMu  sync.Mutex      // guards held; taken alone, never with mu
	held     map[string]bool // providers with a stored hold
}

func (m *Manager) init() {
	m.once.Do(func() {
		m.status = map[string]*Status{}
		m.detected = map[Family]netip.Addr{}
		m.trigger = make(chan struct{}, 1)
		m.held = map[string]bool{}
		if len(m.Families) == 0 {
			m.Families = []Family{IPv4}
		}
		for _, f := range m.Families {
			for _, p := range m.Providers {
				st := &Status{Provider: p.Name, Family: f.String(), Host: m.Host}
				if m.State != nil {
					st.LastAddr, _ = m.State.LoadDDNS(p.Name, f)
				}
				m.status[p.Name+"/"+f.String()] = st
			}
		}
	})
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Manager) log() *slog.Logger {
	if m.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Logger
}

// HostOrEmpty is m.Host, or "" for a nil manager.
func (m *Manager) HostOrEmpty() string {
	if m == nil {
		return ""
	}
	return m.Host
}

// Trigger asks Run for a check now (e.g. `licgate ddns update --now`).
func (m *Manager) Trigger() {
	m.init()
	select {
	case m.trigger <- struct{}{}:
	default:
	}
}

func (m *Manager) after(d time.Duration) <-chan time.Time {
	if m.After != nil {
		return m.After(d)
	}
	return time.After(d)
}

// Run checks at once, then every Interval (with jitter), when triggered,
// or Debounce after the first of a burst of Watch signals, until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	m.init()
	interval := m.Interval
	if interval == 0 {
		interval = 60 * time.Second
	}
	debounce := m.Debounce
	if debounce == 0 {
		debounce = 2 * time.Second
	}
	watch := m.Watch
	for {
		m.Check(ctx)
		poll := m.after(interval + time.Duration(rand.Int64N(int64(interval)/10+1)) - interval/20)
		var settle <-chan time.Time
		events := 0
	wait:
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-poll:
				break wait
			case <-m.trigger:
				break wait
			case _, ok := <-watch:
				if !ok {
					watch = nil
					continue
				}
				if events++; settle == nil {
					settle = m.after(debounce)
				}
			case <-settle:
				m.log().Info("ddns: interface change: checking now", slog.Int("events", events))
				break wait
			}
		}
	}
}

// Check detects each family's address and brings every provider up to
// date, skipping providers that are stopped or backing off. Providers are
// independent: one's failure never blocks another.
func (m *Manager) Check(ctx context.Context) {
	m.init()
	m.checkMu.Lock()
	defer m.checkMu.Unlock()
	m.loadHolds(ctx)
	for _, fam := range m.Families {
		addr, results, err := m.Detector.Detect(ctx, fam)
		if err != nil {
			m.log().Warn("ddns: address not detected", slog.String("family", fam.String()), slog.String("err", err.Error()))
			continue
		}
		for _, r := range results {
			if r.Err != "" {
				m.log().Info("ddns: source failed", slog.String("source", r.Source), slog.String("err", r.Err))
			} else if r.Addr != addr {
				m.log().Warn("ddns: source disagrees", slog.String("source", r.Source), slog.String("says", r.Addr.String()), slog.String("quorum", addr.String()))
			}
		}
		m.mu.Lock()
		old := m.detected[fam]
		m.detected[fam] = addr
		m.mu.Unlock()
		if old.IsValid() && old != addr {
			m.log().Info("ddns: public address changed", slog.String("family", fam.String()), slog.String("old", old.String()), slog.String("new", addr.String()))
			if m.OnChange != nil {
				m.OnChange(fam, old, addr)
			}
		}
		var wg sync.WaitGroup
		for _, p := range m.Providers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m.checkProvider(ctx, p, fam, addr)
			}()
		}
		wg.Wait()
	}
}

// loadHolds applies the stored holds once, before the first check: a
// provider stopped or backing off before a restart stays so, unless its
// configuration changed since.
func (m *Manager) loadHolds(ctx context.Context) {
	// Runs under checkMu, before any provider goroutine of this check.
	if m.holdsIn || m.State == nil {
		return
	}
	m.holdsIn = true
	now := m.now()
	for _, p := range m.Providers {
		log := m.log().With(slog.String("provider", p.Name))
		h, err := m.State.DDNSHold(ctx, p.Name)
		if err != nil {
			log.Error("ddns: read stored hold", slog.String("err", err.Error()))
			continue
		}
		if h.IsZero() {
			continue
		}
		if h.ConfigFingerprint != p.fingerprint(m.Host) {
			log.Info("ddns: configuration changed since the provider was held: trying again", slog.String("hold", h.Reason))
			if err := m.State.ClearDDNSHold(ctx, p.Name); err != nil {
				log.Error("ddns: clear stored hold", slog.String("err", err.Error()))
			}
			continue
		}
		m.holdsMu.Lock()
		m.held[p.Name] = true // cleared at the next success
		m.holdsMu.Unlock()
		if !h.Fatal && !now.Before(h.Until) {
			continue // the back-off is over
		}
		m.mu.Lock()
		for _, fam := range m.Families {
			st := m.status[p.Name+"/"+fam.String()]
			st.Hold = h.Reason
			st.LastError = "held since before the restart: " + h.Reason
			if h.Fatal {
				st.Stopped = true
			} else {
				t := h.Until
				st.NextAttempt = &t
			}
		}
		m.mu.Unlock()
		if h.Fatal {
			log.Warn("ddns: provider stays stopped until its configuration changes", slog.String("hold", h.Reason))
		} else {
			log.Warn("ddns: provider stays backing off", slog.String("hold", h.Reason), slog.Time("until", h.Until))
		}
	}
}

// markHeldLocked applies hold h to every family of p in memory.
// Called with m.mu held.
func (m *Manager) markHeldLocked(p Provider, h Hold) {
	for _, fam := range m.Families {
		st := m.status[p.Name+"/"+fam.String()]
		st.Hold = h.Reason
		if h.Fatal {
			st.Stopped, st.NextAttempt = true, nil
		} else if st.NextAttempt == nil || st.NextAttempt.Before(h.Until) {
			t := h.Until
			st.NextAttempt = &t
		}
	}
}

// storeHold keeps p's hold in the StateStore so a restart obeys it.
// Called without m.mu.
func (m *Manager) storeHold(ctx context.Context, p Provider, h Hold, log *slog.Logger) {
	if m.State == nil {
		return
	}
	m.holdsMu.Lock()
	m.held[p.Name] = true
	m.holdsMu.Unlock()
	if err := m.State.SetDDNSHold(ctx, p.Name, h); err != nil {
		log.Error("ddns: store hold", slog.String("err", err.Error()))
	}
}

func (m *Manager) result(p string, fam Family, r string) {
	if m.OnResult != nil {
		m.OnResult(p, fam, r)
	}
}

func (m *Manager) checkProvider(ctx context.Context, p Provider, fam Family, addr netip.Addr) {
	m.mu.Lock()
	st := m.status[p.Name+"/"+fam.String()]
	st.Detected = addr
	now := m.now()
	if st.Stopped || st.NextAttempt != nil && now.Before(*st.NextAttempt) {
		m.mu.Unlock()
		return
	}
	last := st.LastAddr
	m.mu.Unlock()
	log := m.log().With(slog.String("provider", p.Name), slog.String("family", fam.String()), slog.String("host", m.Host))

	// Never send an update the provider already has: repeated "nochg"
	// gets hosts banned. Trust the authoritative server over our memory
	// when it can be asked (never a resolver: split horizon lies).
	if v := p.verifier(); v != nil {
		cur, err := v.Current(ctx, m.Host, fam)
		switch {
		case err == nil && len(cur) == 1 && cur[0] == addr:
			if last != addr {
				m.accepted(ctx, p, fam, st, addr, now, false)
			}
			m.result(p.Name, fam, ResultUnchanged)
			return
		case err != nil && last == addr:
			log.Info("ddns: could not read the current record; assuming it holds the last address", slog.String("err", err.Error()))
			m.result(p.Name, fam, ResultUnchanged)
			return
		case err == nil && last == addr:
			log.Warn("ddns: the record changed behind our back; correcting it", slog.Any("record", cur))
		}
	} else if last == addr {
		m.result(p.Name, fam, ResultUnchanged)
		return
	}

	err := p.Updater.Update(ctx, m.Host, addr)
	if err == nil {
		m.accepted(ctx, p, fam, st, addr, now, true)
		log.Info("ddns: updated", slog.String("addr", addr.String()))
		m.result(p.Name, fam, ResultUpdated)
		return
	}
	var hold Hold
	m.mu.Lock()
	st.Errors++
	st.LastError = err.Error()
	var fatal *FatalError
	var back *BackoffError
	switch {
	case errors.As(err, &fatal):
		// A person must fix this: every family of the provider stops, and
		// stays stopped across restarts until the configuration changes.
		hold = Hold{Reason: fatal.Code, Fatal: true, ConfigFingerprint: p.fingerprint(m.Host)}
		m.markHeldLocked(p, hold)
		log.Error("ddns: provider stopped until its configuration is fixed", slog.String("err", err.Error()))
		m.result(p.Name, fam, ResultFatal)
	case errors.As(err, &back):
		// The provider asked to wait: that holds for every family, and
		// across restarts.
		st.failures++
		t := now.Add(max(back.Wait, backoff(st.failures)))
		hold = Hold{Reason: back.Code, Until: t, ConfigFingerprint: p.fingerprint(m.Host)}
		m.markHeldLocked(p, hold)
		log.Warn("ddns: provider asks to wait", slog.String("err", err.Error()), slog.Time("next", t))
		m.result(p.Name, fam, ResultBackoff)
	default:
		// Transient trouble (network, SERVFAIL) may concern one family
		// only, and is retried soon anyway: kept in memory.
		st.failures++
		t := now.Add(backoff(st.failures))
		st.NextAttempt = &t
		log.Warn("ddns: update failed", slog.String("err", err.Error()), slog.Time("next", t))
		m.result(p.Name, fam, ResultError)
	}
	m.mu.Unlock()
	if !hold.IsZero() {
		m.storeHold(ctx, p, hold, log)
	}
}

func (m *Manager) accepted(ctx context.Context, p Provider, fam Family, st *Status, addr netip.Addr, now time.Time, updated bool) {
	if m.State != nil {
		if err := m.State.SaveDDNS(p.Name, fam, addr, now); err != nil {
			m.log().Error("ddns: save state", slog.String("err", err.Error()))
		}
		m.holdsMu.Lock()
		held := m.held[p.Name]
		delete(m.held, p.Name)
		m.holdsMu.Unlock()
		if held {
			if err := m.State.ClearDDNSHold(ctx, p.Name); err != nil {
				m.log().Error("ddns: clear stored hold", slog.String("err", err.Error()))
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st.LastAddr = addr
	t := now
	st.LastSuccess = &t
	st.LastError = ""
	st.NextAttempt = nil
	st.Hold = ""
	st.failures = 0
	if updated {
		st.Updates++
	}
}

// backoff is exponential with jitter: ~1m, 2m, 4m ... capped at 30m.
func backoff(failures int) time.Duration {
	d := time.Minute << min(failures-1, 5)
	d = min(d, 30*time.Minute)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// Status reports every provider, sorted.
func (m *Manager) Status() []Status {
	m.init()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.status))
	for _, s := range m.status {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Provider != out[j].Provider {
			return out[i].Provider < out[j].Provider
		}
		return out[i].Family < out[j].Family
	})
	return out
}
