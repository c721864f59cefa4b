package tunnel

import (
	"context"
	"crypto/rand"
	"io"
	"net/netip"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/licgate/licgate/tunnel/wgtune"
)

// After a bulk transfer through a netstack device, the device trims once
// the traffic is quiet again, and wireguard-go's freed message buffers are
// gone from the heap.
func TestTrimAfterBulk(t *testing.T) {
	gw, cl, _ := netstackPair(t, time.Millisecond)
	defer gw.Close()
	defer cl.Close()
	ln, err := gw.ListenTCP(netip.MustParseAddrPort("10.44.0.1:22350"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(io.Discard, c)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := cl.DialContext(ctx, "tcp", "10.44.0.1:22350")
	if err != nil {
		t.Fatal(err)
	}
	// The live heap with both devices up and connected: their fixed
	// buffers (about 12 MB).
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	base := s[0].Value.Uint64()
	data := make([]byte, 1<<20)
	rand.Read(data)
	c.SetDeadline(time.Now().Add(60 * time.Second))
	for range 32 {
		if _, err := c.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	deadline := time.Now().Add(4*wgtune.TrimEvery + 10*time.Second)
	for gw.trim.Trims() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no trim after 32 MiB (%d bytes through the gateway)", gw.trim.Bytes().Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Live heap as of the trim's collections: the devices' fixed buffers
	// and little more, not the transfer's (about 8 MB more without the
	// trim: 20 MB against 12 MB).
	metrics.Read(s)
	live := s[0].Value.Uint64()
	t.Logf("live heap before the transfer %.1f MB, after the trim %.1f MB", float64(base)/(1<<20), float64(live)/(1<<20))
	if live > base+6<<20 && !raceEnabled {
		t.Fatalf("live heap after the trim %.1f MB, %.1f MB before the transfer", float64(live)/(1<<20), float64(base)/(1<<20))
	}
}
