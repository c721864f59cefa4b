package portmap

import (
	"context"
	"errors"
	"fmt"
	"github.com/licgate/licgate/portmap/internal/pxp"
	"net/netip"
	"time"
)

// A protocol client holds one mapping on one router. Its methods may be
// called from the Run loop and from ExternalAddr at the same time.
type protocol interface {
	name() string
	// mapPort creates the mapping or renews it, asking for lease.
	mapPort(ctx context.Context, lease time.Duration) (mapResult, error)
	// check tells whether the mapping is still in place on the router
	// (a protocol without a query renews it instead: renewed is true).
	check(ctx context.Context, lease time.Duration) (res mapResult, present, renewed bool, err error)
	// unmap removes the mapping.
	unmap(ctx context.Context) error
	// externalAddr asks the router for its external address.
	externalAddr(ctx context.Context) (netip.Addr, error)
}

type mapResult struct {
	External netip.AddrPort
	Lease    time.Duration // granted; 0 means permanent (some UPnP routers)
	// Restarted: the router's epoch shows it lost its state since the
	// previous answer (it rebooted or its daemon restarted).
	Restarted bool
}

// target is what every protocol client needs to know.
type target struct {
	gw           netip.Addr
	internalPort uint16
	externalPort uint16
	tcp          bool // map TCP (the public listener), else UDP (WireGuard)
	desc         string
	// nonce identifies the PCP mapping; it stays the same for the
	// Mapper's life, as a router refuses (NOT_AUTHORIZED) a new nonce for
	// a mapping it still holds.
	nonce   [12]byte
	timeout time.Duration
	dial    DialFunc
	listen  ListenPacketFunc
}

// epochTracker remembers the router's last epoch (PCP and NAT-PMP).
type epochTracker struct {
	epoch uint32
	at    time.Time
}

func (e *epochTracker) see(epoch uint32) (lost bool) {
	now := time.Now()
	lost = pxp.EpochLost(e.epoch, e.at, epoch, now)
	e.epoch, e.at = epoch, now
	return lost
}

// pcpClient maps with PCP (RFC 6887).
type pcpClient struct {
	t     target
	nonce [12]byte

	mu       chanMutex
	ep       epochTracker
	lastAddr netip.Addr
	lastPort uint16
}

func newPCP(t target) *pcpClient {
	return &pcpClient{t: t, nonce: t.nonce, mu: newChanMutex()}
}

func (p *pcpClient) name() string { return "pcp" }

func (p *pcpClient) request(ctx context.Context, lifetime uint32, extPort uint16) (pxp.PCPMapResponse, error) {
	var resp pxp.PCPMapResponse
	err := pxpExchange(ctx, p.t.dial, p.t.gw, p.t.timeout, func(local netip.Addr) []byte {
		return pxp.PCPMapRequest{
			Client: local, Nonce: p.nonce, InternalPort: p.t.internalPort,
			ExternalPort: extPort, ExternalAddr: p.lastAddr, Lifetime: lifetime, TCP: p.t.tcp,
			PreferFailure: lifetime != 0,
		}.Marshal()
	}, func(b []byte) error {
		r, err := pxp.ParsePCPMapResponse(p.t.tcp, b)
		if err != nil {
			return err
		}
		if r.Nonce != p.nonce || r.InternalPort != p.t.internalPort {
			return fmt.Errorf("%w: pcp answer for another mapping (port %d)", errSkip, r.InternalPort)
		}
		resp = r
		return nil
	})
	return resp, err
}

func (p *pcpClient) mapPort(ctx context.Context, lease time.Duration) (mapResult, error) {
	if err := p.mu.lock(ctx); err != nil {
		return mapResult{}, err
	}
	defer p.mu.unlock()
	ext := p.t.externalPort
	if p.lastPort != 0 {
		ext = p.lastPort
	}
	r, err := p.request(ctx, uint32(lease/time.Second), ext)
	if err != nil {
		return mapResult{}, fmt.Errorf("pcp map: %w", err)
	}
	if r.Lifetime == 0 || r.ExternalPort == 0 {
		return mapResult{}, fmt.Errorf("%w: pcp MAP answered success with lifetime %d, port %d", ErrMalformed, r.Lifetime, r.ExternalPort)
	}
	if err := usableExternal(r.ExternalAddr); err != nil {
		return mapResult{}, fmt.Errorf("pcp map: %w", err)
	}
	restarted := p.ep.see(r.Epoch)
	p.lastAddr, p.lastPort = r.ExternalAddr, r.ExternalPort
	return mapResult{
		External:  netip.AddrPortFrom(r.ExternalAddr, r.ExternalPort),
		Lease:     grantedLease(r.Lifetime, lease),
		Restarted: restarted,
	}, nil
}

// grantedLease is the lifetime a router granted, never longer than asked
// (nor than maxLease): a router that answers 0xffffffff seconds does not
// get a 136-year mapping.
func grantedLease(sec uint32, asked time.Duration) time.Duration {
	return min(time.Duration(sec)*time.Second, max(asked, time.Second), maxLease)
}

// usableExternal refuses an external address that reaches nothing: a
// router answers 0.0.0.0 while its WAN side is down; loopback, multicast
// or link-local would be a broken or forged answer.
func usableExternal(a netip.Addr) error {
	if !a.IsValid() || !a.Unmap().Is4() || a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return fmt.Errorf("%w: router answered external address %s", ErrNotMapped, a)
	}
	return nil
}

// check renews: PCP has no query for one mapping, and a renewal
// re-creates a mapping the router forgot.
func (p *pcpClient) check(ctx context.Context, lease time.Duration) (mapResult, bool, bool, error) {
	r, err := p.mapPort(ctx, lease)
	return r, err == nil, true, err
}

func (p *pcpClient) unmap(ctx context.Context) error {
	if err := p.mu.lock(ctx); err != nil {
		return err
	}
	defer p.mu.unlock()
	if _, err := p.request(ctx, 0, p.lastPort); err != nil {
		return fmt.Errorf("pcp delete: %w", err)
	}
	return nil
}

// externalAddr returns the address of the last answer: a PCP router
// tells it only with a mapping, and the Run loop renews that regularly.
func (p *pcpClient) externalAddr(ctx context.Context) (netip.Addr, error) {
	if err := p.mu.lock(ctx); err != nil {
		return netip.Addr{}, err
	}
	defer p.mu.unlock()
	if !p.lastAddr.IsValid() {
		return netip.Addr{}, errors.New("pcp: no mapping yet")
	}
	return p.lastAddr, nil
}

// pmpClient maps with NAT-PMP (RFC 6886).
type pmpClient struct {
	t target

	mu       chanMutex
	ep       epochTracker
	lastPort uint16
}

func newPMP(t target) *pmpClient { return &pmpClient{t: t, mu: newChanMutex()} }

func (p *pmpClient) name() string { return "natpmp" }

func (p *pmpClient) addr(ctx context.Context) (pxp.PMPAddrResponse, error) {
	var resp pxp.PMPAddrResponse
	err := pxpExchange(ctx, p.t.dial, p.t.gw, p.t.timeout, func(netip.Addr) []byte { return pxp.BuildPMPAddrRequest() },
		func(b []byte) error {
			if len(b) >= 2 && b[0] == pxp.PMPVersion && (b[1] == pxp.PMPReply|pxp.PMPOpMapUDP || b[1] == pxp.PMPReply|pxp.PMPOpMapTCP) {
				return fmt.Errorf("%w: nat-pmp mapping answer to an address request", errSkip)
			}
			r, err := pxp.ParsePMPAddrResponse(b)
			resp = r
			return err
		})
	if err != nil {
		return resp, fmt.Errorf("nat-pmp external address: %w", err)
	}
	return resp, nil
}

func (p *pmpClient) request(ctx context.Context, lifetime uint32, ext uint16) (pxp.PMPMapResponse, error) {
	var resp pxp.PMPMapResponse
	err := pxpExchange(ctx, p.t.dial, p.t.gw, p.t.timeout, func(netip.Addr) []byte {
		return pxp.BuildPMPMapRequest(p.t.tcp, p.t.internalPort, ext, lifetime)
	}, func(b []byte) error {
		if len(b) >= 2 && b[0] == pxp.PMPVersion && b[1] == pxp.PMPReply|pxp.PMPOpAddr {
			return fmt.Errorf("%w: nat-pmp address answer to a mapping request", errSkip)
		}
		r, err := pxp.ParsePMPMapResponse(p.t.tcp, b)
		if err != nil {
			return err
		}
		if r.InternalPort != p.t.internalPort {
			return fmt.Errorf("%w: nat-pmp answer for internal port %d", errSkip, r.InternalPort)
		}
		resp = r
		return nil
	})
	return resp, err
}

func (p *pmpClient) mapPort(ctx context.Context, lease time.Duration) (mapResult, error) {
	if err := p.mu.lock(ctx); err != nil {
		return mapResult{}, err
	}
	defer p.mu.unlock()
	a, err := p.addr(ctx)
	if err != nil {
		return mapResult{}, err
	}
	if err := usableExternal(a.Addr); err != nil {
		return mapResult{}, fmt.Errorf("nat-pmp: %w", err)
	}
	restarted := p.ep.see(a.Epoch)
	ext := p.t.externalPort
	if p.lastPort != 0 {
		ext = p.lastPort
	}
	r, err := p.request(ctx, uint32(lease/time.Second), ext)
	if err != nil {
		return mapResult{}, fmt.Errorf("nat-pmp map: %w", err)
	}
	if r.Lifetime == 0 || r.ExternalPort == 0 {
		return mapResult{}, fmt.Errorf("%w: nat-pmp mapping answered success with lifetime %d, port %d", ErrMalformed, r.Lifetime, r.ExternalPort)
	}
	restarted = p.ep.see(r.Epoch) || restarted
	p.lastPort = r.ExternalPort
	return mapResult{
		External:  netip.AddrPortFrom(a.Addr, r.ExternalPort),
		Lease:     grantedLease(r.Lifetime, lease),
		Restarted: restarted,
	}, nil
}

func (p *pmpClient) check(ctx context.Context, lease time.Duration) (mapResult, bool, bool, error) {
	r, err := p.mapPort(ctx, lease)
	return r, err == nil, true, err
}

func (p *pmpClient) unmap(ctx context.Context) error {
	if err := p.mu.lock(ctx); err != nil {
		return err
	}
	defer p.mu.unlock()
	// RFC 6886 3.4: lifetime 0 and suggested external port 0 delete.
	if _, err := p.request(ctx, 0, 0); err != nil {
		return fmt.Errorf("nat-pmp delete: %w", err)
	}
	return nil
}

func (p *pmpClient) externalAddr(ctx context.Context) (netip.Addr, error) {
	a, err := p.addr(ctx)
	if err != nil {
		return netip.Addr{}, err
	}
	if err := usableExternal(a.Addr); err != nil {
		return netip.Addr{}, fmt.Errorf("nat-pmp: %w", err)
	}
	return a.Addr, nil
}

// chanMutex is a mutex whose lock gives up when ctx ends.
type chanMutex chan struct{}

func newChanMutex() chanMutex { return make(chanMutex, 1) }

func (m chanMutex) lock(ctx context.Context) error {
	select {
	case m <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m chanMutex) unlock() { <-m }
