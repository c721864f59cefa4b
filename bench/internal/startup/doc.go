// Package startup is the benchmark's section 8 (`go run ./bench -only
// startup`): `licgate serve` with 10,000 devices in the store, timed to
// API ready, paired with a baseline binary if one is given.
//
// Typical usage:
//
//	err := startup.Run(benchkit.Licgate{Baseline: "/tmp/licgate-old"}, 5)
package startup
