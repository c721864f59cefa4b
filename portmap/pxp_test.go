package portmap

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"github.com/licgate/licgate/portmap/internal/pxp"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func pcpAnswer(op, code byte, lifetime uint32, nonce [12]byte, proto byte, internal, external uint16, ext netip.Addr) []byte {
	b := make([]byte, pxp.PCPHeaderSz+pxp.PCPMapSz)
	b[0], b[1], b[3] = pxp.PCPVersion, op, code
	binary.BigEndian.PutUint32(b[4:], lifetime)
	binary.BigEndian.PutUint32(b[8:], 1234) // epoch
	m := b[pxp.PCPHeaderSz:]
	copy(m, nonce[:])
	m[12] = proto
	binary.BigEndian.PutUint16(m[16:], internal)
	binary.BigEndian.PutUint16(m[18:], external)
	a := ext.As16()
	copy(m[20:], a[:])
	return b
}

func pmpMapAnswer(op byte, code uint16, internal, external uint16, lifetime uint32) []byte {
	b := make([]byte, pxp.PMPMapRespSz)
	b[0], b[1] = pxp.PMPVersion, op
	binary.BigEndian.PutUint16(b[2:], code)
	binary.BigEndian.PutUint32(b[4:], 99)
	binary.BigEndian.PutUint16(b[8:], internal)
	binary.BigEndian.PutUint16(b[10:], external)
	binary.BigEndian.PutUint32(b[12:], lifetime)
	return b
}

var pub = netip.MustParseAddr("198.51.100.7")

func TestParsePCPMapResponse(t *testing.T) {
	n := [12]byte{1, 2, 3}
	good := pcpAnswer(0x81, 0, 3600, n, 17, 51820, 51821, pub)
	for _, tc := range []struct {
		name string
		b    []byte
		want error  // nil: parses
		msg  string // part of the message
	}{
		{"ok", good, nil, ""},
		{"empty", nil, ErrMalformed, "answer of 0 bytes"},
		{"3 bytes", good[:3], ErrMalformed, "answer of 3 bytes"},
		{"header only", good[:24], ErrMalformed, "has 24 bytes, want 60"},
		{"59 bytes", good[:59], ErrMalformed, "has 59 bytes, want 60"},
		{"version 1", append([]byte{1}, good[1:]...), ErrMalformed, "version 1"},
		{"announce reply", pcpAnswer(0x80, 0, 0, n, 17, 1, 1, pub), ErrMalformed, "opcode 0x80 to MAP"},
		{"request echoed", pcpAnswer(0x01, 0, 0, n, 17, 1, 1, pub), ErrMalformed, "opcode 0x1"},
		{"tcp", pcpAnswer(0x81, 0, 3600, n, 6, 51820, 51820, pub), ErrMalformed, "protocol 6"},
		{"not authorized", pcpAnswer(0x81, 2, 30, n, 17, 51820, 0, netip.IPv6Unspecified()), ErrNotAuthorized, "NOT_AUTHORIZED"},
		{"unsupp version", pcpAnswer(0x81, 1, 0, n, 17, 0, 0, pub)[:24], ErrUnsupported, "UNSUPP_VERSION"},
		{"no resources", pcpAnswer(0x81, 8, 0, n, 17, 0, 0, pub), ErrRouterError, "NO_RESOURCES"},
		{"cannot provide external", pcpAnswer(0x81, 11, 0, n, 17, 0, 0, pub), ErrConflict, "CANNOT_PROVIDE_EXTERNAL"},
		{"unknown code", pcpAnswer(0x81, 200, 0, n, 17, 0, 0, pub), ErrRouterError, "result code 200"},
		{"nat-pmp router", []byte{0, 0x81, 0, 1, 0, 0, 0, 0}, ErrUnsupported, "answered PCP with NAT-PMP (unsupported version)"},
	} {
		r, err := pxp.ParsePCPMapResponse(false, tc.b)
		if tc.want == nil {
			if err != nil || r.Nonce != n || r.ExternalPort != 51821 || r.InternalPort != 51820 || r.ExternalAddr != pub || r.Lifetime != 3600 || r.Epoch != 1234 {
				t.Errorf("%s: %+v, %v", tc.name, r, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v, want %v containing %q", tc.name, err, tc.want, tc.msg)
		}
	}
}

func TestPCPRequestLayout(t *testing.T) {
	b := pxp.PCPMapRequest{Client: netip.MustParseAddr("192.168.1.10"), Nonce: [12]byte{9}, InternalPort: 51820, ExternalPort: 51820, Lifetime: 7200}.Marshal()
	if len(b) != 60 || b[0] != 2 || b[1] != 1 || binary.BigEndian.Uint32(b[4:]) != 7200 {
		t.Fatalf("header % x", b[:24])
	}
	if a := netip.AddrFrom16([16]byte(b[8:24])); a.Unmap().String() != "192.168.1.10" || !a.Is4In6() {
		t.Errorf("client address %s, want ::ffff:192.168.1.10", a)
	}
	if b[24] != 9 || b[36] != 17 || binary.BigEndian.Uint16(b[40:]) != 51820 || binary.BigEndian.Uint16(b[42:]) != 51820 {
		t.Errorf("map part % x", b[24:])
	}
	// No suggested address: the IPv4 wildcard ::ffff:0.0.0.0 (RFC 6887 11.1).
	if a := netip.AddrFrom16([16]byte(b[44:60])); a != netip.AddrFrom16(netip.IPv4Unspecified().As16()) {
		t.Errorf("suggested external address %s", a)
	}
}

func TestParsePMP(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want error
		msg  string
	}{
		{"ok", pmpMapAnswer(0x81, 0, 51820, 51820, 3600), nil, ""},
		{"short", pmpMapAnswer(0x81, 0, 51820, 51820, 3600)[:12], ErrMalformed, "has 12 bytes, want 16"},
		{"2 bytes", []byte{0, 0x81}, ErrMalformed, "answer of 2 bytes"},
		{"version 2", append([]byte{2}, pmpMapAnswer(0x81, 0, 1, 1, 1)[1:]...), ErrMalformed, "version 2"},
		{"tcp reply", pmpMapAnswer(0x82, 0, 1, 1, 1), ErrMalformed, "opcode 130 to request 1"},
		{"refused", pmpMapAnswer(0x81, 2, 0, 0, 0), ErrNotAuthorized, "not authorized/refused"},
		{"network failure", pmpMapAnswer(0x81, 3, 0, 0, 0)[:4], ErrRouterError, "network failure"},
		{"out of resources", pmpMapAnswer(0x81, 4, 0, 0, 0), ErrRouterError, "out of resources"},
		{"unsupported opcode", pmpMapAnswer(0x81, 5, 0, 0, 0), ErrUnsupported, "unsupported opcode"},
	} {
		r, err := pxp.ParsePMPMapResponse(false, tc.b)
		if tc.want == nil {
			if err != nil || r.ExternalPort != 51820 || r.Lifetime != 3600 || r.Epoch != 99 {
				t.Errorf("%s: %+v, %v", tc.name, r, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v, want %v containing %q", tc.name, err, tc.want, tc.msg)
		}
	}
	a, err := pxp.ParsePMPAddrResponse([]byte{0, 0x80, 0, 0, 0, 0, 0, 7, 198, 51, 100, 7})
	if err != nil || a.Addr != pub || a.Epoch != 7 {
		t.Errorf("address answer: %+v, %v", a, err)
	}
	if _, err := pxp.ParsePMPAddrResponse([]byte{0, 0x80, 0, 0, 0, 0, 0, 7, 198}); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated address answer: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(pcpAnswer(0x81, 0, 3600, [12]byte{}, 17, 1, 1, pub))
	f.Add(pmpMapAnswer(0x81, 0, 1, 1, 1))
	f.Add([]byte{0, 0x80, 0, 0, 0, 0, 0, 7, 198, 51, 100, 7})
	f.Add([]byte("HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := pxp.ParsePCPMapResponse(false, b); err == nil && (len(b) < 60 || r.ExternalAddr.BitLen() == 0) {
			t.Fatalf("accepted % x", b)
		} else if err != nil && err.Error() == "" {
			t.Fatal("empty error")
		}
		if _, err := pxp.ParsePMPMapResponse(false, b); err == nil && len(b) < 16 {
			t.Fatalf("accepted % x", b)
		}
		if _, err := pxp.ParsePMPAddrResponse(b); err == nil && len(b) < 12 {
			t.Fatalf("accepted % x", b)
		}
		if u, err := parseSSDP(b); err == nil && u.Host == "" {
			t.Fatalf("accepted location without host: % x", b)
		}
	})
}

func TestEpochLost(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	for _, tc := range []struct {
		prev    uint32
		elapsed time.Duration
		epoch   uint32
		lost    bool
	}{
		{100, 10 * time.Second, 110, false},
		{100, 10 * time.Second, 111, false}, // clock granularity
		{100, 0, 99, false},                 // jitter of one second
		{100, 0, 98, true},                  // backwards: rebooted
		{100, time.Second, 0, true},         // rebooted, epoch from 0
		{100, 600 * time.Second, 300, true}, // rebooted long ago: too little progress
		{100, 60 * time.Second, 500, true},  // too much progress
		{2, 300 * time.Millisecond, 1, false},
	} {
		if got := pxp.EpochLost(tc.prev, t0, tc.epoch, t0.Add(tc.elapsed)); got != tc.lost {
			t.Errorf("prev %d, %s later epoch %d: lost %v, want %v", tc.prev, tc.elapsed, tc.epoch, got, tc.lost)
		}
	}
	if pxp.EpochLost(0, time.Time{}, 0, t0) {
		t.Error("first answer counted as a reboot")
	}
}

func TestParseProcRoute(t *testing.T) {
	const table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
		"wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n" +
		"eth0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n" +
		"eth1\t00000000\t0102A8C0\t0002\t0\t0\t1\t00000000\t0\t0\t0\n" // down: ignored
	gw, err := parseProcRoute(strings.NewReader(table))
	if err != nil || gw.String() != "192.168.0.1" {
		t.Errorf("gateway %v, %v; want 192.168.0.1 (lowest metric)", gw, err)
	}
	if _, err := parseProcRoute(strings.NewReader(table[:strings.Index(table, "wlan0")])); !errors.Is(err, ErrNoGateway) {
		t.Errorf("no default route: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{
		{InternalPort: 0},
		{InternalPort: 70000},
		{InternalPort: 1, ExternalPort: -1},
		{InternalPort: 1, Protocols: []string{"upnp", "nat-pmp"}},
		{InternalPort: 1, Gateway: netip.MustParseAddr("fe80::1")},
		{InternalPort: 1, Lease: time.Second},
	} {
		if err := c.Validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if err := (&Config{InternalPort: 51820}).Validate(); err != nil {
		t.Error(err)
	}
}

// fakeRouter answers on a loopback UDP port with what answer returns
// (nil: no answer). The Dial it gives sends everything for port 5351 there.
func fakeRouter(t *testing.T, answer func(req []byte) [][]byte) DialFunc {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			for _, a := range answer(append([]byte(nil), buf[:n]...)) {
				pc.WriteTo(a, from)
			}
		}
	}()
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if strings.HasSuffix(addr, ":5351") {
			addr = pc.LocalAddr().String()
		} else if strings.HasPrefix(network, "udp") {
			addr = "127.0.0.1:9" // discard: nobody answers UPnP
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
}

// deafListen gives UPnP discovery a socket that sends nowhere (nothing
// leaves loopback) and so never hears an answer.
func deafListen(ctx context.Context, network, addr string) (net.PacketConn, error) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	return deafPC{pc}, err
}

type deafPC struct{ net.PacketConn }

func (d deafPC) WriteTo(b []byte, _ net.Addr) (int, error) { return len(b), nil }

func testMapper(t *testing.T, dial DialFunc, protocols ...string) *Mapper {
	return New(Config{
		Protocols: protocols, Gateway: netip.MustParseAddr("192.0.2.1"), InternalPort: 51820,
		Timeout: 600 * time.Millisecond, Dial: dial, ListenPacket: deafListen,
	}, nil)
}

// A router that answers garbage, then the right thing: the garbage is
// skipped. One that answers only garbage: a clear error, no panic.
func TestExchangeMalformed(t *testing.T) {
	leakCheck(t)
	ctx := context.Background()
	dial := fakeRouter(t, func(req []byte) [][]byte {
		if req[0] != pxp.PCPVersion {
			return [][]byte{{0, 0x80}} // truncated NAT-PMP
		}
		nonce := [12]byte(req[24:36])
		return [][]byte{
			req[:10], // truncated
			pcpAnswer(0x81, 0, 60, [12]byte{7}, 17, 51820, 51820, pub), // another mapping's nonce
			pcpAnswer(0x81, 0, 60, nonce, 17, 51820, 51820, pub),
		}
	})
	p, res, err := testMapper(t, dial, PCP).establish(ctx)
	if err != nil || p.name() != "pcp" || res.External != netip.AddrPortFrom(pub, 51820) || res.Lease != time.Minute {
		t.Fatalf("pcp: %v %+v %v", p, res, err)
	}
	_, _, err = testMapper(t, dial, NATPMP).establish(ctx)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "nat-pmp answer of 2 bytes") {
		t.Errorf("natpmp: %v", err)
	}
}

// Every protocol refuses or is silent: one error naming the router and
// each protocol's reason; errors.Is finds both kinds.
func TestEstablishErrors(t *testing.T) {
	leakCheck(t)
	dial := fakeRouter(t, func(req []byte) [][]byte {
		if req[0] == pxp.PCPVersion {
			return [][]byte{pcpAnswer(0x81, 2, 0, [12]byte(req[24:36]), 17, 51820, 0, netip.IPv6Unspecified())}
		}
		return [][]byte{pmpMapAnswer(0x80|req[1], 2, 0, 0, 0)[:4]}
	})
	_, _, err := testMapper(t, dial).establish(context.Background())
	want := "portmap: router at 192.0.2.1 refused to forward UDP port 51820: pcp: pcp map: router refused the mapping: pcp NOT_AUTHORIZED"
	if err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, ErrNotAuthorized) || errors.Is(err, ErrNoRouter) || !IsRefused(err) {
		t.Errorf("got %v\nwant prefix %s", err, want)
	}
	// NAT-PMP is not asked once PCP answered (the same server, the same
	// rules); UPnP is.
	if !strings.Contains(err.Error(), "(PCP is off or forbids this port); upnp: no answer: upnp discovery got no answer within 600ms") || strings.Contains(err.Error(), "natpmp") {
		t.Errorf("got %v", err)
	}
	_, _, err = testMapper(t, dial, NATPMP).establish(context.Background())
	if !strings.Contains(err.Error(), "natpmp: nat-pmp external address: router refused the mapping: nat-pmp not authorized/refused") || !IsRefused(err) {
		t.Errorf("natpmp alone: %v", err)
	}

	silent := fakeRouter(t, func([]byte) [][]byte { return nil })
	_, _, err = testMapper(t, silent, PCP, NATPMP).establish(context.Background())
	if !errors.Is(err, ErrNoRouter) || !strings.HasPrefix(err.Error(), "portmap: router at 192.0.2.1 answered neither PCP nor NAT-PMP: pcp: pcp map: no answer within 600ms") {
		t.Errorf("silent: %v", err)
	}
}

func TestCloseWithoutRun(t *testing.T) {
	m := New(Config{InternalPort: 1}, nil)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(m.Close(), net.ErrClosed) || !errors.Is(m.Run(context.Background()), net.ErrClosed) {
		t.Error("second Close or Run after Close did not say net.ErrClosed")
	}
	if err := New(Config{}, nil).Run(context.Background()); !errors.Is(err, ErrBadConfig) {
		t.Errorf("Run with a bad config: %v", err)
	}
}

// leakCheck runs after every cleanup of t (cleanups run last-in first-out).
func leakCheck(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

func TestStatusJSON(t *testing.T) {
	st := Status{State: "mapped", Protocol: "pcp", Network: "udp", Gateway: netip.MustParseAddr("192.168.1.1"), InternalPort: 51820,
		ExternalAddress: pub, ExternalPort: 51820, LeaseExpiry: time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC), Renewals: 2}
	b, err := json.Marshal(st)
	want := `{"state":"mapped","protocol":"pcp","network":"udp","gateway":"192.168.1.1","internal_port":51820,"external_address":"198.51.100.7","external_port":51820,"lease_expiry":"2026-11-30T06:00:00Z","renewals":2,"recreated":0}`
	if err != nil || string(b) != want {
		t.Errorf("got  %s, %v\nwant %s", b, err, want)
	}
	b, _ = json.Marshal(Status{State: "idle", Network: "tcp", InternalPort: 8443})
	if string(b) != `{"state":"idle","network":"tcp","internal_port":8443,"renewals":0,"recreated":0}` {
		t.Errorf("idle: %s", b)
	}
}

// A router still holding a PCP mapping refuses a new nonce for it: every
// attempt of one Mapper uses the same nonce.
func TestPCPNonceStable(t *testing.T) {
	leakCheck(t)
	nonces := make(chan [12]byte, 10)
	dial := fakeRouter(t, func(req []byte) [][]byte {
		n := [12]byte(req[24:36])
		nonces <- n
		return [][]byte{pcpAnswer(0x81, 0, 60, n, 17, 51820, 51820, pub)}
	})
	m := testMapper(t, dial, PCP)
	for range 2 {
		if _, _, err := m.establish(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := <-nonces, <-nonces; a != b || a == ([12]byte{}) {
		t.Errorf("nonces % x and % x", a, b)
	}
}

// Two listeners for announcements on one host share the port.
func TestReuseAddr(t *testing.T) {
	lc := &net.ListenConfig{Control: reuseAddr}
	a, err := lc.ListenPacket(context.Background(), "udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := lc.ListenPacket(context.Background(), "udp4", a.LocalAddr().String())
	if err != nil {
		t.Fatalf("second listener on %s: %v", a.LocalAddr(), err)
	}
	b.Close()
}

// A TCP mapping (the public enrolment listener) asks for TCP in every
// protocol: PCP protocol 6, NAT-PMP opcode 2; an answer for UDP is refused.
func TestTCPMappingRequests(t *testing.T) {
	b := pxp.PCPMapRequest{Client: netip.MustParseAddr("192.168.1.10"), InternalPort: 8443, ExternalPort: 8443, Lifetime: 60, TCP: true}.Marshal()
	if b[pxp.PCPHeaderSz+12] != 6 {
		t.Fatalf("pcp protocol %d, want 6 (TCP)", b[pxp.PCPHeaderSz+12])
	}
	if got := pxp.BuildPMPMapRequest(true, 8443, 8443, 60)[1]; got != 2 {
		t.Fatalf("nat-pmp opcode %d, want 2 (TCP)", got)
	}
	udpAnswer := make([]byte, 16)
	udpAnswer[0], udpAnswer[1] = 0, 128|1
	if _, err := pxp.ParsePMPMapResponse(true, udpAnswer); err == nil {
		t.Fatal("a UDP answer accepted for a TCP request")
	}
}
