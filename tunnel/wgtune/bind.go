// Package wgtune adapts wireguard-go to a gateway with many peers and
// small messages: a bind that hands wireguard-go small batches (BindBatch),
// reading handshake initiations' initiator keys (InitiationReader, for
// peers added lazily), and trimming wireguard-go's buffer pool (Trimmer).
package wgtune

import (
	"golang.zx2c4.com/wireguard/conn"
)

// BindBatch is how many datagrams wireguard-go's receive goroutines take
// from licgate's bind at once, and so how many message buffers each of
// them holds: wireguard-go gives every slot of a batch a buffer of
// device.MaxMessageSize (64 KiB, for UDP GRO) and replaces each one it
// hands on. With conn.StdNetBind's batch of 128 that was 8 MiB per
// receive goroutine (two: IPv4 and IPv6), plus the buffers in flight;
// license traffic is small messages, a few packets at a time.
const BindBatch = 16

// stagedSlot is the size of the staging buffers conn.StdNetBind reads
// single datagrams into (see stager). WireGuard packets are at most the
// sender's MTU plus 32 bytes; licgate's MTU is 1420 and TCP segments from
// peers follow its MSS.
const stagedSlot = 4096

// bind wraps wireguard-go's StdNetBind (sticky source addresses, UDP
// GSO/GRO, recvmmsg/sendmmsg) and reports a batch of bindBatch to
// wireguard-go: StdNetBind itself always fills conn.IdealBatchSize
// message slots (with UDP GRO reading coalesced datagrams into the last
// two), so each receive function reads into its own staging buffers
// (stager) and hands wireguard-go up to bindBatch datagrams per call,
// copying them (a few hundred bytes each for license traffic).
//
// onInitiation, if set, sees every handshake initiation before
// wireguard-go does (lazy peers, see package tunnel's AddPeer).
type bind struct {
	conn.Bind
	batch        int
	onInitiation func(pkt []byte)
}

// NewBind wraps inner (conn.StdNetBind) to hand wireguard-go at most
// batch datagrams per call; onInitiation, if not nil, sees every
// handshake initiation first.
func NewBind(inner conn.Bind, batch int, onInitiation func(pkt []byte)) conn.Bind {
	return &bind{Bind: inner, batch: batch, onInitiation: onInitiation}
}

func (b *bind) BatchSize() int { return min(b.batch, b.Bind.BatchSize()) }

func (b *bind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	fns, p, err := b.Bind.Open(port)
	if err != nil {
		return nil, 0, err
	}
	inner := b.Bind.BatchSize()
	for i, fn := range fns {
		fns[i] = newStager(fn, inner, b.onInitiation).receive
	}
	return fns, p, nil
}

// stager holds one inner batch of datagrams and hands them on in smaller
// batches.
type stager struct {
	recv    conn.ReceiveFunc
	bufs    [][]byte
	sizes   []int
	eps     []conn.Endpoint
	n, next int
	onInit  func([]byte)
}

func newStager(recv conn.ReceiveFunc, batch int, onInit func([]byte)) *stager {
	s := &stager{recv: recv, bufs: make([][]byte, batch), sizes: make([]int, batch), eps: make([]conn.Endpoint, batch), onInit: onInit}
	for i := range s.bufs {
		size := stagedSlot
		if i >= batch-2 || batch == 1 {
			// StdNetBind reads GRO-coalesced datagrams (up to 64 KiB)
			// into the last two slots and splits them into the others.
			size = 1 << 16
		}
		s.bufs[i] = make([]byte, size)
	}
	return s
}

// messageInitiationType is a WireGuard handshake initiation's type field
// (little-endian 1, then three zero bytes).
const messageInitiationType = 1

func (s *stager) receive(bufs [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
	if s.next >= s.n {
		n, err := s.recv(s.bufs, s.sizes, s.eps)
		if err != nil {
			return 0, err
		}
		s.n, s.next = n, 0
	}
	k := 0
	for k < len(bufs) && s.next < s.n {
		i := s.next
		s.next++
		p := s.bufs[i][:s.sizes[i]]
		if s.onInit != nil && len(p) == InitiationSize && p[0] == messageInitiationType && p[1] == 0 && p[2] == 0 && p[3] == 0 {
			s.onInit(p)
		}
		sizes[k] = copy(bufs[k], p)
		eps[k] = s.eps[i]
		s.eps[i] = nil
		k++
	}
	return k, nil
}
