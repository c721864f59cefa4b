package tunnel

import (
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// Trimming after bulk traffic. wireguard-go takes a 64 KiB message buffer
// for every packet in flight and keeps freed ones in a sync.Pool, which
// only the garbage collector empties (in two cycles). After a bulk
// transfer through a netstack device the pool holds tens of MB that a
// license gateway, back to small messages, does not need again, and the
// collector may not run for minutes: resident memory stayed at 130-200 MB
// at 1,000 sessions. When a burst of traffic ends (more than trimBurst
// bytes in one trimEvery interval, then less than trimQuiet in the next),
// the device runs the collector twice and returns the freed memory to the
// operating system: a few milliseconds of CPU once per burst.
const (
	trimEvery = 2 * time.Second
	trimBurst = 8 << 20
	trimQuiet = 512 << 10
)

type trimmer struct {
	bytes atomic.Uint64 // through the device's TUN, both ways
	trims atomic.Uint64 // trims done (tests)
	stop  chan struct{}
	done  chan struct{}
}

func newTrimmer() *trimmer {
	t := &trimmer{stop: make(chan struct{}), done: make(chan struct{})}
	go t.run()
	return t
}

// trimState decides, interval by interval, when a burst has ended.
type trimState struct{ burst bool }

// next takes the bytes of the interval just ended and reports whether to
// trim now.
func (s *trimState) next(n uint64) bool {
	switch {
	case n >= trimBurst:
		s.burst = true
	case s.burst && n < trimQuiet:
		s.burst = false
		return true
	}
	return false
}

func (t *trimmer) run() {
	defer close(t.done)
	tk := time.NewTicker(trimEvery)
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
			runtime.GC() // the pool's buffers move to its victim cache
			debug.FreeOSMemory()
			t.trims.Add(1)
		}
		last = cur
	}
}

func (t *trimmer) close() {
	close(t.stop)
	<-t.done
}
