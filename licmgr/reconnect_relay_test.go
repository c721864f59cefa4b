package licmgr_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licgate/licgate/internal/licsim"
	"github.com/licgate/licgate/licmgr"
)

// relay is the smallest gateway that applies the reconnect rule the way
// admission must: a device is named by its first line (a stand-in for the
// WireGuard identity), a new seat connection cuts the device's silent
// earlier ones before the upstream is dialled, and every byte from the
// device refreshes LastFromDevice.
type relay struct {
	ln       net.Listener
	upstream string
	rule     licmgr.ReconnectRule
	now      func() time.Time

	mu   sync.Mutex
	next uint64
	live map[uint64]*relayed
	wg   sync.WaitGroup
}

type relayed struct {
	held     licmgr.Held
	down, up net.Conn
}

func (r *relay) serve() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.wg.Add(1)
		go r.handle(c)
	}
}

func (r *relay) handle(down net.Conn) {
	defer r.wg.Done()
	br := bufio.NewReader(down)
	first, err := br.ReadString('\n')
	device, ok := strings.CutPrefix(strings.TrimSpace(first), "DEVICE ")
	if err != nil || !ok {
		down.Close()
		return
	}
	r.mu.Lock()
	var helds []licmgr.Held
	for _, s := range r.live {
		helds = append(helds, s.held)
	}
	for _, id := range r.rule.Supersede(r.now(), device, "cad", true, helds) {
		s := r.live[id]
		s.up.Close() // the upstream first: the license server sees the release
		s.down.Close()
		delete(r.live, id)
	}
	r.next++
	s := &relayed{held: licmgr.Held{ID: r.next, Device: device, Service: "cad", HoldsSeats: true, LastFromDevice: r.now()}, down: down}
	r.live[s.held.ID] = s
	r.mu.Unlock()
	up, err := net.Dial("tcp", r.upstream)
	if err != nil {
		down.Close()
		return
	}
	r.mu.Lock()
	s.up = up
	r.mu.Unlock()
	go func() { io.Copy(down, up); down.Close() }()
	buf := make([]byte, 4096)
	for {
		n, err := br.Read(buf)
		if n > 0 {
			r.mu.Lock()
			s.held.LastFromDevice = r.now()
			r.mu.Unlock()
			if _, werr := up.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	up.Close()
	r.mu.Lock()
	delete(r.live, s.held.ID)
	r.mu.Unlock()
}

func (r *relay) close() {
	r.ln.Close()
	r.mu.Lock()
	for _, s := range r.live {
		s.down.Close()
		if s.up != nil {
			s.up.Close()
		}
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// A device whose network dropped reconnects and checks out again: with
// the rule the license server ends with one seat for it, not two (without
// it, the stranded connection keeps the first seat: FlexNet's
// "additional license consumed on client reconnection").
func TestReconnectHoldsOneSeat(t *testing.T) {
	checkLeaks(t)
	for _, c := range []struct {
		name string
		rule licmgr.ReconnectRule
		want int
	}{
		{"rule on", licmgr.ReconnectRule{}, 1},
		{"rule off: the double seat", licmgr.ReconnectRule{Off: true}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := &licsim.Server{Seats: 3}
			if err := srv.Listen("127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			clock := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
			r := &relay{ln: ln, upstream: srv.Addr().String(), rule: c.rule, live: map[uint64]*relayed{},
				now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }}
			r.wg.Add(1)
			go r.serve()
			defer r.close()

			checkout := func() *licsim.Client {
				conn, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(conn, "DEVICE alice/laptop\n")
				lc := licsim.NewClient(conn)
				if ans, err := lc.Call("HELLO alice@laptop"); err != nil || !strings.HasPrefix(ans, "OK ") {
					t.Fatalf("checkout: %q %v", ans, err)
				}
				return lc
			}
			first := checkout()
			defer first.Close()
			// The network drops: the first connection goes silent (its home
			// side is gone; nothing closes it at the gateway).
			mu.Lock()
			clock = clock.Add(time.Minute)
			mu.Unlock()
			second := checkout()
			defer second.Close()
			if !srv.WaitInUse(c.want, 5*time.Second) {
				t.Fatalf("license server holds %d seats for one device, want %d", srv.InUse(), c.want)
			}
			if ans, err := second.Call("PING x"); err != nil || ans != "PONG x" {
				t.Errorf("the new session must work: %q %v", ans, err)
			}
		})
	}
}
