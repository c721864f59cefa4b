package gvlink

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// wire carries packets from one stack to the other, as WireGuard would,
// and counts what the first stack sent.
type wire struct {
	pureAcks, data atomic.Int64
	mu             sync.Mutex
	seq            []string // "ack" or "data", in the order sent
}

func (w *wire) run(from, to *netTUN) {
	bufs := make([][]byte, tunBatch)
	for i := range bufs {
		bufs[i] = make([]byte, 1500)
	}
	sizes := make([]int, tunBatch)
	for {
		n, err := from.Read(bufs, sizes, 0)
		if err != nil {
			return
		}
		out := make([][]byte, n)
		for i := range n {
			p := bufs[i][:sizes[i]]
			out[i] = p
			ip := header.IPv4(p)
			if ip.Protocol() != uint8(header.TCPProtocolNumber) {
				continue
			}
			th := header.TCP(p[ip.HeaderLength():])
			payload := int(ip.TotalLength()) - int(ip.HeaderLength()) - int(th.DataOffset())
			w.mu.Lock()
			switch {
			case th.Flags() == header.TCPFlagAck && payload == 0:
				w.pureAcks.Add(1)
				w.seq = append(w.seq, "ack")
			case payload > 0:
				w.data.Add(1)
				w.seq = append(w.seq, "data")
			}
			w.mu.Unlock()
		}
		if _, err := to.Write(out, 0); err != nil {
			return
		}
	}
}

// pair is a server stack (10.7.0.1, holding ACKs for delay) wired to a
// client stack (10.7.0.2, acknowledging at once). fromServer counts what
// the server sent.
func pair(t *testing.T, delay time.Duration) (srv, cli *netTUN, fromServer *wire) {
	t.Helper()
	srv, err := newNetTUN([]netip.Addr{netip.MustParseAddr("10.7.0.1")}, 1420, delay)
	if err != nil {
		t.Fatal(err)
	}
	cli, err = newNetTUN([]netip.Addr{netip.MustParseAddr("10.7.0.2")}, 1420, 0)
	if err != nil {
		t.Fatal(err)
	}
	fromServer = &wire{}
	go fromServer.run(srv, cli)
	go (&wire{}).run(cli, srv)
	t.Cleanup(func() { cli.Close(); srv.Close() })
	return srv, cli, fromServer
}

// answer accepts one connection on ln and answers each 64-byte request
// with 256 bytes, after wait.
func answer(ln net.Listener, wait time.Duration) {
	c, err := ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	req, resp := make([]byte, 64), make([]byte, 256)
	for {
		if _, err := io.ReadFull(c, req); err != nil {
			return
		}
		time.Sleep(wait)
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

// pingPong serves requests of 64 bytes with 256-byte answers after wait,
// and makes n exchanges from the client.
func pingPong(t *testing.T, srv, cli *netTUN, n int, wait time.Duration, mark func()) {
	t.Helper()
	ln, err := srv.listenTCP(netip.MustParseAddrPort("10.7.0.1:22350"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go answer(ln, wait)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := cli.dial(ctx, "tcp", "10.7.0.1:22350")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	req, resp := make([]byte, 64), make([]byte, 256)
	// One exchange first, so the handshake's packets are not counted.
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, resp); err != nil {
		t.Fatal(err)
	}
	mark()
	for i := 0; i < n; i++ {
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, resp); err != nil {
			t.Fatalf("exchange %d: %v", i, err)
		}
	}
}

// With a delay, the acknowledgment of a request rides on the answer: the
// server sends answers only. Without one, gVisor acknowledges each request
// with a packet of its own first (which is what the delay saves).
func TestAckRidesOnReply(t *testing.T) {
	const n = 300
	for _, tc := range []struct {
		delay    time.Duration
		min, max int64
	}{
		{50 * time.Millisecond, 0, n / 20},
		{0, n / 2, n + 10},
	} {
		srv, cli, w := pair(t, tc.delay)
		var acks0, data0 int64
		pingPong(t, srv, cli, n, 0, func() { acks0, data0 = w.pureAcks.Load(), w.data.Load() })
		acks, data := w.pureAcks.Load()-acks0, w.data.Load()-data0
		t.Logf("ack delay %s: %d answers, %d bare ACKs from the server for %d requests", tc.delay, data, acks, n)
		if data < n {
			t.Errorf("ack delay %s: %d answer packets for %d requests", tc.delay, data, n)
		}
		if acks < tc.min || acks > tc.max {
			t.Errorf("ack delay %s: %d bare ACKs for %d requests, want %d-%d", tc.delay, acks, n, tc.min, tc.max)
		}
	}
}

// When the answer takes longer than the delay, the held ACK goes out on its
// own, before the answer.
func TestHeldAckSentWhenAnswerIsSlow(t *testing.T) {
	const n = 8
	srv, cli, w := pair(t, time.Millisecond)
	start := 0
	pingPong(t, srv, cli, n, 100*time.Millisecond, func() {
		w.mu.Lock()
		start = len(w.seq)
		w.mu.Unlock()
	})
	w.mu.Lock()
	seq := append([]string(nil), w.seq[start:]...)
	w.mu.Unlock()
	want := []string{}
	for range n {
		want = append(want, "ack", "data")
	}
	if len(seq) < len(want) || !slices.Equal(seq[:len(want)], want) {
		t.Errorf("server sent %v, want an ACK before each answer: %v", seq, want)
	}
}

// Bulk both ways arrives whole with ACKs held: holding never stalls a
// transfer (each second ACK releases the one held).
func TestBulkWithAckDelay(t *testing.T) {
	srv, cli, _ := pair(t, 5*time.Millisecond)
	ln, err := srv.listenTCP(netip.MustParseAddrPort("10.7.0.1:9"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const size = 8 << 20
	blob := make([]byte, size)
	rand.Read(blob)
	sum := sha256.Sum256(blob)
	errc := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		h := sha256.New()
		if _, err := io.CopyN(h, c, size); err != nil {
			errc <- err
			return
		}
		if _, err := c.Write(h.Sum(nil)); err != nil {
			errc <- err
			return
		}
		_, err = c.Write(blob) // and the same back: the server sends bulk too
		errc <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := cli.dial(ctx, "tcp", "10.7.0.1:9")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	go c.Write(blob)
	got := make([]byte, sha256.Size)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, sum[:]) {
		t.Fatal("upload arrived changed")
	}
	h := sha256.New()
	if _, err := io.CopyN(h, c, size); err != nil {
		t.Fatalf("download: %v", err)
	}
	if !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Fatal("download arrived changed")
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// tcpPacket builds an outbound packet as the stack hands it to the link.
func tcpPacket(src, dst string, sport, dport uint16, flags header.TCPFlags, ack uint32, opts []byte, payload int) *stack.PacketBuffer {
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{ReserveHeaderBytes: 120, Payload: buffer.MakeWithData(make([]byte, payload))})
	th := header.TCP(pkt.TransportHeader().Push(header.TCPMinimumSize + len(opts)))
	th.Encode(&header.TCPFields{SrcPort: sport, DstPort: dport, SeqNum: 1, AckNum: ack, DataOffset: uint8(header.TCPMinimumSize + len(opts)), Flags: flags, WindowSize: 1000})
	copy(th[header.TCPMinimumSize:], opts)
	pkt.TransportProtocolNumber = header.TCPProtocolNumber
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	if s.Is4() {
		ip := header.IPv4(pkt.NetworkHeader().Push(header.IPv4MinimumSize))
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(pkt.Size()), TTL: 64, Protocol: uint8(header.TCPProtocolNumber), SrcAddr: tcpip.AddrFromSlice(s.AsSlice()), DstAddr: tcpip.AddrFromSlice(d.AsSlice())})
		pkt.NetworkProtocolNumber = header.IPv4ProtocolNumber
	} else {
		ip := header.IPv6(pkt.NetworkHeader().Push(header.IPv6MinimumSize))
		ip.Encode(&header.IPv6Fields{PayloadLength: uint16(pkt.Size() - header.IPv6MinimumSize), TransportProtocol: header.TCPProtocolNumber, HopLimit: 64, SrcAddr: tcpip.AddrFromSlice(s.AsSlice()), DstAddr: tcpip.AddrFromSlice(d.AsSlice())})
		pkt.NetworkProtocolNumber = header.IPv6ProtocolNumber
	}
	return pkt
}

var sackOpt = []byte{header.TCPOptionNOP, header.TCPOptionNOP, header.TCPOptionSACK, 10, 0, 0, 0, 1, 0, 0, 0, 2}
var tsOpt = []byte{header.TCPOptionNOP, header.TCPOptionNOP, header.TCPOptionTS, 10, 0, 0, 0, 1, 0, 0, 0, 2}

func TestTCPInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		pkt  *stack.PacketBuffer
		kind ackKind
	}{
		{"bare ACK", tcpPacket("10.0.0.1", "10.0.0.2", 1, 2, header.TCPFlagAck, 5, nil, 0), bareAck},
		{"bare ACK with timestamps", tcpPacket("10.0.0.1", "10.0.0.2", 1, 2, header.TCPFlagAck, 5, tsOpt, 0), bareAck},
		{"bare ACK over IPv6", tcpPacket("fd00::1", "fd00::2", 1, 2, header.TCPFlagAck, 5, nil, 0), bareAck},
		{"duplicate ACK with SACK", tcpPacket("10.0.0.1", "10.0.0.2", 1, 2, header.TCPFlagAck, 5, sackOpt, 0), sackAck},
		{"data", tcpPacket("10.0.0.1", "10.0.0.2", 1, 2, header.TCPFlagAck|header.TCPFlagPsh, 5, nil, 64), carrier},
		{"FIN", tcpPacket("10.0.0.1", "10.0.0.2", 1, 2, header.TCPFlagAck|header.TCPFlagFin, 5, nil, 0), carrier},
		{"SYN-ACK", tcpPacket("10.0.0.1", "10.0.0.2", 1, 2, header.TCPFlagSyn|header.TCPFlagAck, 5, nil, 0), notAck},
		{"SYN", tcpPacket("10.0.0.1", "10.0.0.2", 1, 2, header.TCPFlagSyn, 0, nil, 0), notAck},
	} {
		key, ack, kind := tcpInfo(tc.pkt)
		if kind != tc.kind {
			t.Errorf("%s: kind %d, want %d", tc.name, kind, tc.kind)
		}
		if kind != notAck && (ack != 5 || key.sport != 1 || key.dpt != 2) {
			t.Errorf("%s: ack %d ports %d>%d", tc.name, ack, key.sport, key.dpt)
		}
		tc.pkt.DecRef()
	}
}

// queued takes what the link has queued right now, as ack numbers.
func queued(t *netTUN) []uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []uint32
	for _, p := range t.queue {
		_, ack, _ := tcpInfo(p)
		out = append(out, ack)
		p.DecRef()
	}
	t.queue = nil
	return out
}

// The hold/drop/release rules, packet by packet.
func TestAckHoldRules(t *testing.T) {
	tn, err := newNetTUN([]netip.Addr{netip.MustParseAddr("10.0.0.1")}, 1420, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	send := func(p *stack.PacketBuffer) {
		t.Helper()
		if _, err := tn.send([]*stack.PacketBuffer{p}); err != nil {
			t.Fatal(err)
		}
		p.DecRef()
	}
	ack := func(n uint32, opts []byte) *stack.PacketBuffer {
		return tcpPacket("10.0.0.1", "10.0.0.2", 22350, 5000, header.TCPFlagAck, n, opts, 0)
	}
	data := func(n uint32) *stack.PacketBuffer {
		return tcpPacket("10.0.0.1", "10.0.0.2", 22350, 5000, header.TCPFlagAck|header.TCPFlagPsh, n, nil, 100)
	}
	check := func(step string, want ...uint32) {
		t.Helper()
		if got := queued(tn); !slices.Equal(got, want) {
			t.Errorf("%s: sent acks %v, want %v", step, got, want)
		}
	}
	send(ack(100, nil))
	check("bare ACK is held")
	send(data(100))
	check("answer replaces the held ACK", 100)
	send(ack(200, nil))
	send(ack(300, nil))
	check("a second ACK releases the first", 200, 300)
	send(ack(400, nil))
	send(tcpPacket("10.0.0.1", "10.0.0.3", 22350, 5000, header.TCPFlagAck|header.TCPFlagPsh, 7, nil, 10))
	check("another connection's data leaves the ACK held", 7)
	send(ack(400, sackOpt))
	check("a SACK releases the held ACK and goes at once", 400, 400)
	send(ack(500, nil))
	send(tcpPacket("10.0.0.1", "10.0.0.2", 22350, 5000, header.TCPFlagAck|header.TCPFlagFin, 500, nil, 0))
	check("a FIN carries the ACK", 500)
	send(ack(600, nil))
	send(data(550)) // acknowledges less than the held ACK: both go
	check("an older acknowledgment does not replace the held ACK", 600, 550)
	if got, want := tn.ackStats(), (AckStats{Held: 5, Carried: 2, Sent: 3}); got != want {
		t.Errorf("ack stats %+v, want %+v", got, want)
	}
}

// A held ACK goes out when its delay runs out, through Read.
func TestHeldAckExpires(t *testing.T) {
	tn, err := newNetTUN([]netip.Addr{netip.MustParseAddr("10.0.0.1")}, 1420, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	p := tcpPacket("10.0.0.1", "10.0.0.2", 1, 2, header.TCPFlagAck, 42, nil, 0)
	tn.send([]*stack.PacketBuffer{p})
	p.DecRef()
	bufs, sizes := [][]byte{make([]byte, 1500)}, []int{0}
	done := make(chan error, 1)
	go func() {
		n, err := tn.Read(bufs, sizes, 0)
		if err == nil && n != 1 {
			err = errors.New("no packet")
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("held ACK never sent")
	}
	ip := header.IPv4(bufs[0][:sizes[0]])
	if got := header.TCP(ip.Payload()).AckNumber(); got != 42 {
		t.Errorf("sent ack %d, want 42", got)
	}
	// Close ends a waiting Read.
	go func() { _, err := tn.Read(bufs, sizes, 0); done <- err }()
	time.Sleep(10 * time.Millisecond)
	tn.Close()
	if err := <-done; !errors.Is(err, os.ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
}

func TestDialErrors(t *testing.T) {
	tn, err := newNetTUN([]netip.Addr{netip.MustParseAddr("10.0.0.1")}, 1420, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	for _, addr := range []string{"licserver:22350", "10.0.0.9", "10.0.0.9:http"} {
		if _, err := tn.dial(context.Background(), "tcp", addr); err == nil {
			t.Errorf("dial %q: no error", addr)
		}
	}
	if _, err := tn.dial(context.Background(), "unix", "10.0.0.9:1"); err == nil {
		t.Error("dial unix: no error")
	}
}

// A full queue makes the stack's sender wait for wireguard-go instead of
// dropping packets; Close releases a waiting sender.
func TestQueueBackpressure(t *testing.T) {
	tn, err := newNetTUN([]netip.Addr{netip.MustParseAddr("10.0.0.1")}, 1420, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	const total = maxQueued + 100
	sent := make(chan int, 1)
	go func() {
		n := 0
		for i := range total {
			p := tcpPacket("10.0.0.1", "10.0.0.2", 1, 2, header.TCPFlagAck|header.TCPFlagPsh, uint32(i), nil, 10)
			k, err := tn.send([]*stack.PacketBuffer{p})
			p.DecRef()
			if err != nil {
				break
			}
			n += k
		}
		sent <- n
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tn.mu.Lock()
		waiting, queued := tn.full, len(tn.queue)
		tn.mu.Unlock()
		if waiting == 1 {
			if queued != maxQueued {
				t.Fatalf("sender waits with %d queued, want %d", queued, maxQueued)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sender never waited (%d queued)", queued)
		}
		time.Sleep(time.Millisecond)
	}
	bufs := make([][]byte, tunBatch)
	for i := range bufs {
		bufs[i] = make([]byte, 1500)
	}
	sizes := make([]int, tunBatch)
	var got uint32
	for got < total {
		n, err := tn.Read(bufs, sizes, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			ip := header.IPv4(bufs[i][:sizes[i]])
			if ack := header.TCP(ip.Payload()).AckNumber(); ack != got {
				t.Fatalf("packet %d has ack %d: lost or out of order", got, ack)
			}
			got++
		}
	}
	if n := <-sent; n != total {
		t.Fatalf("sent %d of %d", n, total)
	}

	// A sender waiting on a full queue when the device closes returns.
	tn2, err := newNetTUN([]netip.Addr{netip.MustParseAddr("10.0.0.1")}, 1420, 0)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		for range maxQueued + 1 {
			p := tcpPacket("10.0.0.1", "10.0.0.2", 1, 2, header.TCPFlagAck|header.TCPFlagPsh, 1, nil, 10)
			_, err := tn2.send([]*stack.PacketBuffer{p})
			p.DecRef()
			if err != nil {
				errc <- errors.New(err.String())
				return
			}
		}
		errc <- nil
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		tn2.mu.Lock()
		w := tn2.full
		tn2.mu.Unlock()
		if w == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("second sender never waited")
		}
	}
	tn2.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("send on a closed device succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sender still waiting after Close")
	}
}
