package wgtune

import (
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// Trimming wireguard-go's buffer pool. wireguard-go takes a 64 KiB
// message buffer for every packet in flight and keeps freed ones in a
// sync.Pool, which only the garbage collector empties (in two cycles).
// After a bulk transfer, or a moment when the gateway fell behind (a
// stall of the machine: packets pile up in wireguard-go's queues), the
// pool holds tens of MB that a license gateway, back to small messages,
// does not need, and resident memory stayed at 130-200 MB at 1,000
// sessions. So the device runs the collector and returns freed memory to
// the operating system (debug.FreeOSMemory) when a burst of traffic ends
// (more than trimBurst bytes in one TrimEvery interval, then less than
// trimQuiet in the next), and otherwise every trimPeriod while traffic
// flows: a few milliseconds of CPU each time.
const (
	TrimEvery  = 2 * time.Second
	trimBurst  = 8 << 20
	trimQuiet  = 512 << 10
	trimPeriod = 10 * time.Second
)

// Trimmer trims wireguard-go's buffer pool as described above, from the
// traffic counted in Bytes.
type Trimmer struct {
	bytes atomic.Uint64 // through the device's TUN, both ways
	trims atomic.Uint64
	stop  chan struct{}
	done  chan struct{}
}

// NewTrimmer starts a trimmer; Close stops it.
func NewTrimmer() *Trimmer {
	t := &Trimmer{stop: make(chan struct{}), done: make(chan struct{})}
	go t.run()
	return t
}

// trimState decides, interval by interval, when to trim.
type trimState struct {
	burst  bool
	active int // intervals with traffic since the last trim
}

// next takes the bytes of the interval just ended and reports whether to
// trim now.
func (s *trimState) next(n uint64) bool {
	if n > 0 {
		s.active++
	}
	switch {
	case n >= trimBurst:
		s.burst = true
	case s.burst && n < trimQuiet:
		s.burst = false
	case s.active >= int(trimPeriod/TrimEvery):
	default:
		return false
	}
	if s.burst {
		return false
	}
	s.active = 0
	return true
}

func (t *Trimmer) run() {
	defer close(t.done)
	tk := time.NewTicker(TrimEvery)
	defer tk.Stop()
	var st trimState
	last := t.bytes.Load()
	for {
		select {
		case <-t.stop:
			return
		case <-tk.C:
		}
		cur := t.bytes.Load()
		if st.next(cur - last) {
			runtime.GC()         // the pool's buffers move to its victim cache
			debug.FreeOSMemory() // another collection drops them; memory goes back
			t.trims.Add(1)
		}
		last = cur
	}
}

// Close stops the trimmer.
func (t *Trimmer) Close() {
	close(t.stop)
	<-t.done
}

// Bytes is the counter the device adds its traffic to.
func (t *Trimmer) Bytes() *atomic.Uint64 { return &t.bytes }

// Trims reports how many times the trimmer ran.
func (t *Trimmer) Trims() uint64 { return t.trims.Load() }
