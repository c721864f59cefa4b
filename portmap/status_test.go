package portmap

import (
	"context"
	"github.com/licgate/licgate/portmap/internal/pxp"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// Issue 22 finding 7: after the router refused twice and then granted the
// mapping, Status no longer carries the old error (it showed as a stale
// "last error" next to a working mapping in `licgate status`).
func TestStaleErrorCleared(t *testing.T) {
	leakCheck(t)
	var asked atomic.Int32
	dial := fakeRouter(t, func(req []byte) [][]byte {
		if req[0] != pxp.PCPVersion {
			return nil
		}
		code := byte(2) // NOT_AUTHORIZED
		if asked.Add(1) > 2 {
			code = 0
		}
		return [][]byte{pcpAnswer(0x81, code, 60, [12]byte(req[24:36]), 17, 51820, 51820, pub)}
	})
	m := New(Config{
		Protocols: []string{PCP}, Gateway: netip.MustParseAddr("192.0.2.1"), InternalPort: 51820,
		Lease: time.Minute, CheckInterval: 20 * time.Millisecond, Timeout: 600 * time.Millisecond,
		Dial: dial, ListenPacket: deafListen,
	}, nil)
	t.Cleanup(func() { m.Close() })
	go m.Run(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	sawRefused := false
	for {
		st := m.Status()
		sawRefused = sawRefused || st.State == "refused"
		if st.State == "mapped" {
			if st.LastError != "" || !st.LastErrorAt.IsZero() || st.Fix != "" || st.Failures != 0 {
				t.Fatalf("mapped, but the old failure is still shown: %+v", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never mapped: %+v", st)
		}
		time.Sleep(5 * time.Millisecond) // polling a status snapshot
	}
	if !sawRefused || asked.Load() < 3 {
		t.Errorf("the router was asked %d times; refused state seen: %v", asked.Load(), sawRefused)
	}
}

func TestLeftToDo(t *testing.T) {
	if s := (Status{State: "mapped", LastError: "old"}).LeftToDo(); s != "" {
		t.Errorf("mapped: %q", s)
	}
	s := Status{State: "refused", Network: "tcp", InternalPort: 443, LastError: "router at 192.168.1.1 refused ... (606)", Fix: "listen on :8443"}.LeftToDo()
	if want := "forward TCP port 443 to this host: the router refused (router at 192.168.1.1 refused ... (606)); fix: listen on :8443"; s != want {
		t.Errorf("refused: %q\nwant      %q", s, want)
	}
}
