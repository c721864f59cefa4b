package tunnel

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licgate/licgate/tunnel/wgtune"
)

// Lazy peers. wireguard-go's NewPeer precomputes each peer's static-static
// Curve25519 secret (two scalar multiplications through crypto/ecdh), so
// configuring 10,000 devices one IpcSet at a time took most of a 1.9 s
// start. AddPeer of a peer that has no endpoint and no keepalive (a home
// device: it always sends first) records it and returns; a background
// goroutine adds recorded peers to wireguard-go in batches (one IpcSet
// per addBatch peers). A recorded peer can handshake at once all the same:
// while any peer is recorded, the bind shows every handshake initiation to
// the device first (bind.onInitiation), which decrypts the initiator's
// static key (one multiplication, after checking the initiation's MAC)
// and, if that key is recorded, adds the peer to wireguard-go before
// wireguard-go reads the initiation. Peers reports recorded peers like the
// others, RemovePeer forgets them.
type lazyPeers struct {
	mu      sync.Mutex // held across every IpcSet that adds or removes peers
	pending map[Key]Peer
	order   []Key // FIFO of pending keys; a key no longer pending is skipped
	count   atomic.Int64
	closing bool

	kick    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
	paused  bool // tests: the background goroutine adds nothing

	reader  *wgtune.InitiationReader
	lookups lookupLimit
}

// addBatch is how many recorded peers one IpcSet adds in the background;
// other configuration calls wait at most for one batch.
const addBatch = 64

// lookupsPerSecond bounds the initiations decrypted on the receive path
// for recorded peers (one Curve25519 multiplication each, about 50 µs):
// a flood of initiations (anyone with the gateway's public key can make
// them) cannot take more than a few percent of a core there. Initiations
// beyond it go to wireguard-go as they are; one from a peer not yet added
// is dropped and its device retries 5 s later, by when the background
// goroutine has usually added it.
const lookupsPerSecond = 500

type lookupLimit struct {
	mu     sync.Mutex
	second int64
	n      int
}

func (l *lookupLimit) allow(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := now.Unix(); s != l.second {
		l.second, l.n = s, 0
	}
	if l.n >= lookupsPerSecond {
		return false
	}
	l.n++
	return true
}

func (d *wgDevice) startLazy(priv Key) {
	d.lazy = lazyPeers{pending: map[Key]Peer{}, kick: make(chan struct{}, 1), stop: make(chan struct{}),
		stopped: make(chan struct{}), reader: wgtune.NewInitiationReader(priv)}
	go d.addInBackground()
}

// lazyOK reports whether p may be recorded rather than added at once:
// peers the gateway sends to first (an endpoint, a keepalive) are added
// at once.
func lazyOK(p Peer) bool { return !p.Endpoint.IsValid() && p.PersistentKeepalive == 0 }

// record notes p for the background goroutine. On d.lazy.mu.
func (d *wgDevice) record(p Peer) {
	if _, ok := d.lazy.pending[p.PublicKey]; !ok {
		d.lazy.order = append(d.lazy.order, p.PublicKey)
		d.lazy.count.Add(1)
	}
	d.lazy.pending[p.PublicKey] = p
	select {
	case d.lazy.kick <- struct{}{}:
	default:
	}
}

// forget drops k from the recorded peers. On d.lazy.mu.
func (d *wgDevice) forget(k Key) bool {
	if _, ok := d.lazy.pending[k]; !ok {
		return false
	}
	delete(d.lazy.pending, k)
	d.lazy.count.Add(-1)
	if len(d.lazy.pending) == 0 {
		d.lazy.order = d.lazy.order[:0]
	}
	return true
}

// addDelay is how long the background waits after a peer is recorded
// before it adds recorded peers: at start, the gateway records every
// device and then opens its listeners and API; adding 10,000 peers (about
// a second of CPU) waits until that is done instead of competing with it.
const addDelay = time.Second

func (d *wgDevice) addInBackground() {
	defer close(d.lazy.stopped)
	delay := time.NewTimer(addDelay)
	delay.Stop()
	defer delay.Stop()
	for {
		select {
		case <-d.lazy.stop:
			return
		case <-d.lazy.kick:
		}
		delay.Reset(addDelay)
		select {
		case <-d.lazy.stop:
			return
		case <-delay.C:
		}
		for d.addSome() {
			select {
			case <-d.lazy.stop:
				return
			default:
			}
		}
	}
}

// addSome adds up to addBatch recorded peers to wireguard-go in one
// IpcSet; it reports whether more are waiting.
func (d *wgDevice) addSome() bool {
	d.lazy.mu.Lock()
	defer d.lazy.mu.Unlock()
	if d.lazy.closing || d.lazy.paused {
		return false
	}
	var b strings.Builder
	var batch []Peer
	i := 0
	for ; i < len(d.lazy.order) && len(batch) < addBatch; i++ {
		p, ok := d.lazy.pending[d.lazy.order[i]]
		if !ok {
			continue
		}
		batch = append(batch, p)
		writePeer(&b, p)
	}
	d.lazy.order = d.lazy.order[:copy(d.lazy.order, d.lazy.order[i:])]
	if len(batch) == 0 {
		return false
	}
	if err := d.dev.IpcSet(b.String()); err != nil {
		// Add them one by one, so that one bad peer does not keep the
		// others out.
		for _, p := range batch {
			if err := d.addNow(p); err != nil {
				d.log.Warn("peer not configured", slog.String("public_key", p.PublicKey.String()), slog.String("err", err.Error()))
			}
		}
	}
	for _, p := range batch {
		d.forget(p.PublicKey)
	}
	return len(d.lazy.order) > 0
}

// onInitiation adds the peer a handshake initiation comes from, if it is
// recorded and not yet added. It runs on wireguard-go's receive
// goroutine, before wireguard-go reads the initiation.
func (d *wgDevice) onInitiation(msg []byte) {
	if d.lazy.count.Load() == 0 || !d.lazy.reader.MAC1OK(msg) || !d.lazy.lookups.allow(time.Now()) {
		return
	}
	raw, ok := d.lazy.reader.Static(msg)
	if !ok {
		return
	}
	k := Key(raw)
	d.lazy.mu.Lock()
	defer d.lazy.mu.Unlock()
	p, ok := d.lazy.pending[k]
	if !ok || d.lazy.closing {
		return
	}
	if err := d.addNow(p); err != nil {
		d.log.Warn("peer not configured", slog.String("public_key", k.String()), slog.String("err", err.Error()))
	}
	d.forget(k)
}

// stopLazy stops the background goroutine; recorded peers are dropped
// (the device is closing).
func (d *wgDevice) stopLazy() {
	d.lazy.mu.Lock()
	d.lazy.closing = true
	d.lazy.mu.Unlock()
	close(d.lazy.stop)
	<-d.lazy.stopped
}

// addNow configures p in wireguard-go. On d.lazy.mu.
func (d *wgDevice) addNow(p Peer) error {
	var b strings.Builder
	writePeer(&b, p)
	return d.dev.IpcSet(b.String())
}

func writePeer(b *strings.Builder, p Peer) {
	fmt.Fprintf(b, "public_key=%s\nreplace_allowed_ips=true\n", hexKey(p.PublicKey))
	for _, a := range p.AllowedIPs {
		fmt.Fprintf(b, "allowed_ip=%s\n", a.String())
	}
	if p.Endpoint.IsValid() {
		fmt.Fprintf(b, "endpoint=%s\n", p.Endpoint.String())
	}
	if p.PersistentKeepalive > 0 {
		fmt.Fprintf(b, "persistent_keepalive_interval=%d\n", int(p.PersistentKeepalive/time.Second))
	}
}
