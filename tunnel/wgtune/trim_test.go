package wgtune

import "testing"

func TestTrimState(t *testing.T) {
	var s trimState
	for i, tc := range []struct {
		n    uint64
		trim bool
	}{
		{100 << 10, false},     // small messages: nothing to do
		{trimBurst - 1, false}, // busy, but no burst
		{trimBurst, false},     // a burst ...
		{trimBurst * 4, false}, // ... going on
		{trimQuiet, false},     // slower, not quiet
		{trimQuiet - 1, true},  // over: trim once
		{0, false},             // and not again
		{trimBurst * 2, false}, // a second burst
		{0, true},              // over
	} {
		if got := s.next(tc.n); got != tc.trim {
			t.Fatalf("step %d (%d bytes): trim %v, want %v", i, tc.n, got, tc.trim)
		}
	}
}
