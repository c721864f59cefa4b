package flowgate

import (
	"encoding/binary"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/session"
)

// fakeTUN stands in for the OS TUN device: it records what is written
// and answers ICMP echo requests as the host would (the gate's wake-up).
type fakeTUN struct {
	mu      sync.Mutex
	written [][]byte
	discard bool // record nothing (allocation test)
	reads   chan []byte
	closed  chan struct{}
	once    sync.Once
}

func newFakeTUN() *fakeTUN {
	return &fakeTUN{reads: make(chan []byte, 16), closed: make(chan struct{})}
}

func (f *fakeTUN) File() *os.File           { return nil }
func (f *fakeTUN) MTU() (int, error)        { return 1420, nil }
func (f *fakeTUN) Name() (string, error)    { return "fake", nil }
func (f *fakeTUN) Events() <-chan tun.Event { return nil }
func (f *fakeTUN) BatchSize() int           { return 1 }
func (f *fakeTUN) Close() error             { f.once.Do(func() { close(f.closed) }); return nil }

func (f *fakeTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	select {
	case p := <-f.reads:
		sizes[0] = copy(bufs[0][offset:], p)
		return 1, nil
	case <-f.closed:
		return 0, os.ErrClosed
	}
}

func (f *fakeTUN) Write(bufs [][]byte, offset int) (int, error) {
	if f.discard {
		return len(bufs), nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range bufs {
		p := append([]byte(nil), b[offset:]...)
		if len(p) >= 28 && p[9] == ProtoICMP && p[20] == 8 { // echo request: the host answers
			r := append([]byte(nil), p...)
			copy(r[12:16], p[16:20])
			copy(r[16:20], p[12:16])
			r[20] = 0
			binary.BigEndian.PutUint16(r[22:24], 0)
			binary.BigEndian.PutUint16(r[22:24], ^fold(checksum(r[20:], 0)))
			f.reads <- r
			continue
		}
		f.written = append(f.written, p)
	}
	return len(bufs), nil
}

func (f *fakeTUN) take() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.written
	f.written = nil
	return w
}

// admission: alice and carol may hold one session each, mallory none.
type fakeAdmission struct{}

var devices = map[netip.Addr]*session.Identity{
	netip.MustParseAddr("10.44.0.2"): {DeviceID: 1, User: "alice", Device: "laptop"},
	netip.MustParseAddr("10.44.0.3"): {DeviceID: 2, User: "mallory", Device: "pc"},
	netip.MustParseAddr("10.44.0.4"): {DeviceID: 3, User: "carol", Device: "pc"},
}

func (fakeAdmission) Identify(a netip.Addr) (*session.Identity, bool) {
	id, ok := devices[a]
	return id, ok
}

func (fakeAdmission) Authorize(id *session.Identity, service string, counts acl.Counts) (session.Admission, error) {
	if id.User == "mallory" {
		return session.Admission{}, &session.DenyError{Rule: 0, Kind: session.DenyKindRule, Reason: "banned"}
	}
	if counts != nil && counts.UserSessions(id.User) >= 1 {
		return session.Admission{}, &session.DenyError{Rule: 1, Kind: session.DenyKindCap, Reason: "cap"}
	}
	return session.Admission{Rule: 1, Reason: "staff"}, nil
}

const off = 16

func pkt(b []byte) [][]byte {
	buf := make([]byte, off+len(b))
	copy(buf[off:], b)
	return [][]byte{buf}
}

type gateLab struct {
	t         testing.TB
	gate      *Gate
	raw, filt *fakeTUN
	dev       tun.Device
	table     *session.SessionTable
	denials   []session.Denial
	mu        sync.Mutex
}

func newGateLab(t testing.TB) *gateLab {
	l := &gateLab{t: t, raw: newFakeTUN(), filt: newFakeTUN(), table: session.NewSessionTable()}
	up := netip.MustParseAddrPort("192.168.77.10:22350")
	g, err := New(Config{Gateway: netip.MustParseAddr("10.44.0.1"), Admission: fakeAdmission{}, Sessions: l.table,
		Services: []Service{{Name: "codemeter", Proto: ProtoTCP, Port: 22350, Upstream: up},
			{Name: "codemeter", Proto: ProtoUDP, Port: 22350, Upstream: up}},
		OnDeny: func(d session.Denial) { l.mu.Lock(); l.denials = append(l.denials, d); l.mu.Unlock() },
		Linger: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l.gate = g
	l.dev = g.Wrap(l.raw, l.filt)
	t.Cleanup(func() { l.dev.Close(); l.raw.Close() })
	return l
}

// send writes b as a peer's packet.
func (l *gateLab) send(b []byte) {
	l.t.Helper()
	if n, err := l.dev.Write(pkt(b), off); err != nil || n != 1 {
		l.t.Fatalf("Write = %d, %v", n, err)
	}
}

// read returns the next packet toward peers (skipping dropped slots).
func (l *gateLab) read() []byte {
	l.t.Helper()
	type res struct {
		b   []byte
		err error
	}
	ch := make(chan res, 1)
	go func() {
		for {
			bufs := [][]byte{make([]byte, 2048), make([]byte, 2048)}
			sizes := make([]int, 2)
			n, err := l.dev.Read(bufs, sizes, off)
			if err != nil {
				ch <- res{nil, err}
				return
			}
			for i := 0; i < n; i++ {
				if sizes[i] > 0 {
					ch <- res{bufs[i][off : off+sizes[i]], nil}
					return
				}
			}
		}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			l.t.Fatal(r.err)
		}
		return r.b
	case <-time.After(5 * time.Second):
		l.t.Fatal("nothing to read toward the peers")
		return nil
	}
}

func parsed(t *testing.T, b []byte) Packet {
	t.Helper()
	var p Packet
	if !Parse(b, &p) || !checksumsOK(b) {
		t.Fatalf("bad packet % x", b)
	}
	return p
}

func TestGateTCPFlow(t *testing.T) {
	l := newGateLab(t)
	// A SYN opens a flow: rewritten to the upstream, to the OS.
	l.send(tcp4("10.44.0.2:40000", "10.44.0.1:22350", flagSYN, 100, 0, nil))
	w := l.raw.take()
	if len(w) != 1 {
		t.Fatalf("forwarded %d packets", len(w))
	}
	if p := parsed(t, w[0]); p.Dst != netip.MustParseAddr("192.168.77.10") || p.DstPort != 22350 || p.Src != netip.MustParseAddr("10.44.0.2") {
		t.Fatalf("forwarded %+v", p)
	}
	if l.table.Len() != 1 {
		t.Fatalf("sessions: %d", l.table.Len())
	}
	// The upstream's answer comes from the gateway's address.
	l.raw.reads <- tcp4("192.168.77.10:22350", "10.44.0.2:40000", flagSYN|flagACK, 5000, 101, nil)
	if p := parsed(t, l.read()); p.Src != netip.MustParseAddr("10.44.0.1") || p.SrcPort != 22350 || p.Dst != netip.MustParseAddr("10.44.0.2") {
		t.Fatalf("answer %+v", p)
	}
	l.send(tcp4("10.44.0.2:40000", "10.44.0.1:22350", flagACK, 101, 5001, []byte("HELLO\n")))
	if len(l.raw.take()) != 1 {
		t.Fatal("data not forwarded")
	}
	s := l.table.List()[0]
	if s.BytesUp != 6 || s.User != "alice" || s.Client != "10.44.0.2:40000" {
		t.Errorf("session %+v", s)
	}

	// A segment of no flow is dropped; so is a SYN over the cap, which
	// is answered with a reset; a denied device likewise.
	l.send(tcp4("10.44.0.2:40001", "10.44.0.1:22350", flagACK, 1, 1, nil))
	l.send(tcp4("10.44.0.2:40002", "10.44.0.1:22350", flagSYN, 900, 0, nil))
	if w := l.raw.take(); len(w) != 0 {
		t.Fatalf("forwarded %d packets of refused or unknown flows", len(w))
	}
	if p := parsed(t, l.read()); !p.RST() || p.Ack != 901 || p.DstPort != 40002 || p.Src != netip.MustParseAddr("10.44.0.1") {
		t.Errorf("cap refusal answered with %+v", p)
	}
	l.send(tcp4("10.44.0.3:40000", "10.44.0.1:22350", flagSYN, 1, 0, nil))
	if p := parsed(t, l.read()); !p.RST() || p.Dst != netip.MustParseAddr("10.44.0.3") {
		t.Errorf("ban answered with %+v", p)
	}
	l.mu.Lock()
	if len(l.denials) != 2 || l.denials[0].Kind != session.DenyKindCap || l.denials[1].Kind != session.DenyKindRule {
		t.Errorf("denials %+v", l.denials)
	}
	l.mu.Unlock()
	// Other traffic to the gateway goes to the tunnel's own filter.
	l.send(tcp4("10.44.0.2:40003", "10.44.0.1:443", flagSYN, 1, 0, nil))
	if len(l.filt.take()) != 1 {
		t.Error("a packet for the gateway's own listener did not reach the filter")
	}

	// A cut (revoke) while wireguard-go waits in Read: a reset to the
	// license server with the client's next sequence number, one to the
	// client with the server's; the flow's packets are dropped after.
	got := make(chan []byte, 1)
	go func() { got <- l.read() }()
	time.Sleep(10 * time.Millisecond) // let Read block on the OS (the wake-up is what is tested)
	if n := l.table.Cut(func(*session.Session) bool { return true }, session.EndRevoked); n != 1 {
		t.Fatalf("cut %d sessions", n)
	}
	var toClient []byte
	select {
	case toClient = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the reset toward the client never left Read")
	}
	if p := parsed(t, toClient); !p.RST() || p.Seq != 5001 || p.Ack != 107 || p.Dst != netip.MustParseAddr("10.44.0.2") || p.DstPort != 40000 {
		t.Errorf("reset toward the client: %+v", p)
	}
	// Toward the server at what it acknowledged last (101) and at what
	// the client sent last (107): the 6 bytes may still be in flight, and
	// the server takes a reset only at exactly its next expected number.
	w = l.raw.take()
	if len(w) != 2 {
		t.Fatalf("%d packets toward the license server on cut", len(w))
	}
	for i, seq := range []uint32{101, 107} {
		if p := parsed(t, w[i]); !p.RST() || p.Seq != seq || p.Src != netip.MustParseAddr("10.44.0.2") || p.Dst != netip.MustParseAddr("192.168.77.10") {
			t.Errorf("reset %d toward the license server: %+v, want seq %d", i, p, seq)
		}
	}
	if l.table.Len() != 0 {
		t.Errorf("sessions after the cut: %d", l.table.Len())
	}
	l.send(tcp4("10.44.0.2:40000", "10.44.0.1:22350", flagACK, 107, 5001, []byte("more")))
	if len(l.raw.take()) != 0 {
		t.Error("a cut flow's packet was forwarded")
	}
	if st := l.gate.Stats(); st.Admitted != 1 || st.Refused != 2 || st.DroppedCut != 1 || st.DroppedUnknown != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestGateFINEndsSession(t *testing.T) {
	l := newGateLab(t)
	l.send(tcp4("10.44.0.4:40000", "10.44.0.1:22350", flagSYN, 1, 0, nil))
	l.raw.reads <- tcp4("192.168.77.10:22350", "10.44.0.4:40000", flagSYN|flagACK, 10, 2, nil)
	l.read()
	l.send(tcp4("10.44.0.4:40000", "10.44.0.1:22350", flagFIN|flagACK, 2, 11, nil))
	if l.table.Len() != 1 {
		t.Fatal("one FIN ended the session")
	}
	l.raw.reads <- tcp4("192.168.77.10:22350", "10.44.0.4:40000", flagFIN|flagACK, 11, 3, nil)
	l.read()
	if l.table.Len() != 0 {
		t.Fatal("FIN both ways did not end the session")
	}
	// The last ACK still passes (the entry lingers); then it is gone and
	// a new SYN on the same port is a new session.
	l.send(tcp4("10.44.0.4:40000", "10.44.0.1:22350", flagACK, 3, 12, nil))
	if len(l.raw.take()) != 4-1 { // SYN, FIN, last ACK
		t.Error("the last ACK was not forwarded")
	}
	l.send(tcp4("10.44.0.4:40000", "10.44.0.1:22350", flagSYN, 50, 0, nil))
	if l.table.Len() != 1 {
		t.Error("a new SYN on a closed flow's port was not admitted")
	}
}

func TestGateUDP(t *testing.T) {
	l := newGateLab(t)
	l.send(udp4("10.44.0.2:5000", "10.44.0.1:22350", []byte("DISCOVER")))
	w := l.raw.take()
	if len(w) != 1 || parsed(t, w[0]).Dst != netip.MustParseAddr("192.168.77.10") {
		t.Fatalf("datagram not forwarded: %d", len(w))
	}
	l.raw.reads <- udp4("192.168.77.10:22350", "10.44.0.2:5000", []byte("LICSIM"))
	if p := parsed(t, l.read()); p.Src != netip.MustParseAddr("10.44.0.1") || p.SrcPort != 22350 {
		t.Errorf("answer %+v", p)
	}
	// An answer from the upstream to a port with no flow is dropped.
	l.raw.reads <- udp4("192.168.77.10:22350", "10.44.0.2:5001", []byte("LICSIM"))
	// So is what the LAN sends into the tunnel subnet (the host forwards).
	l.raw.reads <- udp4("192.168.77.20:53", "10.44.0.2:5001", []byte("lan"))
	l.raw.reads <- tcp4("192.168.77.20:22", "10.44.0.2:5001", flagSYN, 1, 0, nil)
	l.raw.reads <- udp4("10.44.0.1:22350", "10.44.0.2:5001", []byte("gateway"))
	if p := parsed(t, l.read()); p.Src != netip.MustParseAddr("10.44.0.1") || p.DstPort != 5001 {
		t.Errorf("got %+v, want only the gateway's own datagram", p)
	}
	if st := l.gate.Stats(); st.DroppedToPeer != 2 || st.DroppedUnknown != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestNoAllocs: an established flow's packets cost no allocation either
// way.
func TestNoAllocs(t *testing.T) {
	l := newGateLab(t)
	l.send(tcp4("10.44.0.2:40000", "10.44.0.1:22350", flagSYN, 1, 0, nil))
	l.raw.take()
	l.raw.discard = true
	up := tcp4("10.44.0.2:40000", "10.44.0.1:22350", flagACK, 2, 11, []byte("payload"))
	down := tcp4("192.168.77.10:22350", "10.44.0.2:40000", flagACK, 11, 9, []byte("answer"))
	bufs := pkt(up)
	rbufs, sizes := [][]byte{make([]byte, 2048)}, []int{0}
	w := l.dev.(*wrapped)
	if a := testing.AllocsPerRun(1000, func() {
		copy(bufs[0][off:], up)
		w.Write(bufs, off)
	}); a != 0 {
		t.Errorf("Write: %v allocations per packet", a)
	}
	if a := testing.AllocsPerRun(1000, func() {
		l.raw.reads <- down
		w.Read(rbufs, sizes, off)
	}); a != 0 {
		t.Errorf("Read: %v allocations per packet", a)
	}
	if sizes[0] == 0 {
		t.Error("the answer was dropped")
	}
}

// BenchmarkNewFlow: what deciding and ending one TCP flow costs in the
// gate itself (identity and policy are the fakes here; the gateway's
// audit and logs come on top).
func BenchmarkNewFlow(b *testing.B) {
	l := newGateLab(b)
	l.raw.discard = true
	syn := tcp4("10.44.0.2:40000", "10.44.0.1:22350", flagSYN, 1, 0, nil)
	bufs := pkt(syn)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		copy(bufs[0][off:], syn)
		binary.BigEndian.PutUint16(bufs[0][off+20:], uint16(1024+i%60000))
		fixL4(bufs[0][off:])
		l.dev.Write(bufs, off)
		l.table.Cut(func(*session.Session) bool { return true }, session.EndClientClosed)
	}
}

// FuzzGate: any sequence of packets either way (well-formed segments of
// a few flows, and raw bytes) never panics the gate, and every flow it
// holds as live has its session in the table.
func FuzzGate(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7}, []byte{})
	f.Add([]byte{0x10, 0x21, 0x32, 0x43, 0x14, 0x25}, []byte{0x45, 0, 0, 20})
	f.Fuzz(func(t *testing.T, script []byte, raw []byte) {
		l := newGateLab(t)
		l.raw.discard = true
		flags := []uint8{flagSYN, flagSYN | flagACK, flagACK, flagFIN | flagACK, flagRST, flagRST | flagACK}
		for i, op := range script {
			port := 40000 + int(op>>4)%3
			fl := flags[int(op&0x0f)%len(flags)]
			client := []string{"10.44.0.2", "10.44.0.3", "10.44.0.4"}[i%3]
			cp := netip.AddrPortFrom(netip.MustParseAddr(client), uint16(port)).String()
			switch op % 4 {
			case 0, 1:
				l.dev.Write(pkt(tcp4(cp, "10.44.0.1:22350", fl, uint32(i), uint32(i), script[:i%4])), off)
			case 2:
				l.gate.toPeer(tcp4("192.168.77.10:22350", cp, fl, uint32(i), uint32(i), nil), &Packet{})
			case 3:
				l.table.Cut(func(s *session.Session) bool { return s.Client.Port() == uint16(port) }, session.EndAdmin)
			}
		}
		b := pkt(raw)
		l.dev.Write(b, off)
		l.gate.toPeer(append([]byte(nil), raw...), &Packet{})
		live := map[uint64]bool{}
		for _, s := range l.table.List() {
			live[s.ID] = true
		}
		l.gate.mu.RLock()
		defer l.gate.mu.RUnlock()
		for k, fl := range l.gate.flows {
			if !fl.ended.Load() && !live[fl.s.ID] {
				t.Fatalf("flow %+v is live but its session %d is not in the table", k, fl.s.ID)
			}
			if fl.ended.Load() && live[fl.s.ID] {
				t.Fatalf("flow %+v ended but its session %d is still in the table", k, fl.s.ID)
			}
		}
	})
}
