//go:build race

package tunnel

// raceEnabled: under the race detector transfers run several times
// slower, so a 32 MiB transfer is no burst to the trimmer (see
// TestTrimAfterBulk).
const raceEnabled = true
