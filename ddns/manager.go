package ddns

import (
	"context"
	"errors"
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
}

func (p Provider) verifier() Verifier {
	if p.Verify != nil {
		return p.Verify
	}
	v, _ := p.Updater.(Verifier)
	return v
}

// StateStore persists the last address each provider accepted, so a
// restart never re-sends an update for an unchanged address.
type StateStore interface {
	LoadDDNS(provider string, fam Family) (netip.Addr, error)
	SaveDDNS(provider string, fam Family, addr netip.Addr, at time.Time) error
}

// MemState is an in-memory StateStore (tests, demo).
type MemState struct {
	mu sync.Mutex
	m  map[string]netip.Addr
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
	// Watch, if set, triggers a check at once (interface address changes).
	Watch <-chan struct{}

	checkMu  sync.Mutex // one check at a time (the loop and `update --now`)
	mu       sync.Mutex
	status   map[string]*Status
	detected map[Family]netip.Addr
	trigger  chan struct{}
	once     sync.Once
}

func (m *Manager) init() {
	m.once.Do(func() {
		m.status = map[string]*Status{}
		m.detected = map[Family]netip.Addr{}
		m.trigger = make(chan struct{}, 1)
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

// Run checks at once, then every Interval (with jitter) or when
// triggered, until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	m.init()
	interval := m.Interval
	if interval == 0 {
		interval = 60 * time.Second
	}
	for {
		m.Check(ctx)
		wait := interval + time.Duration(rand.Int64N(int64(interval)/10+1)) - interval/20
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-m.trigger:
			t.Stop()
		case <-m.Watch:
			t.Stop()
			m.log().Info("ddns: interface address changed: checking now")
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
				m.accepted(p, fam, st, addr, now, false)
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
		m.accepted(p, fam, st, addr, now, true)
		log.Info("ddns: updated", slog.String("addr", addr.String()))
		m.result(p.Name, fam, ResultUpdated)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st.Errors++
	st.LastError = err.Error()
	var fatal *FatalError
	var back *BackoffError
	switch {
	case errors.As(err, &fatal):
		st.Stopped = true
		st.NextAttempt = nil
		log.Error("ddns: provider stopped until its configuration is fixed", slog.String("err", err.Error()))
		m.result(p.Name, fam, ResultFatal)
	case errors.As(err, &back):
		st.failures++
		t := now.Add(max(back.Wait, backoff(st.failures)))
		st.NextAttempt = &t
		log.Warn("ddns: provider asks to wait", slog.String("err", err.Error()), slog.Time("next", t))
		m.result(p.Name, fam, ResultBackoff)
	default:
		st.failures++
		t := now.Add(backoff(st.failures))
		st.NextAttempt = &t
		log.Warn("ddns: update failed", slog.String("err", err.Error()), slog.Time("next", t))
		m.result(p.Name, fam, ResultError)
	}
}

func (m *Manager) accepted(p Provider, fam Family, st *Status, addr netip.Addr, now time.Time, updated bool) {
	if m.State != nil {
		if err := m.State.SaveDDNS(p.Name, fam, addr, now); err != nil {
			m.log().Error("ddns: save state", slog.String("err", err.Error()))
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st.LastAddr = addr
	t := now
	st.LastSuccess = &t
	st.LastError = ""
	st.NextAttempt = nil
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
