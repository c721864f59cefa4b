// Package realpath is the benchmark's section 7 (`sudo go run ./bench
// -section realpath`): a home device (wg-quick + wireguard-go), an office
// gateway and a license server stand-in, each in a network namespace of
// its own, with licgate's rows measured against a routed wireguard-go
// gateway and no tunnel at all, rows alternating within each round, then
// a scale row of many idle sessions with heartbeats. It needs root;
// without it the section prints that it skipped. Every namespace,
// interface and process is removed at the end, on error, on panic and on
// SIGINT/SIGTERM (nsLab).
//
// Typical usage:
//
//	o := realpath.DefaultOptions()
//	o.Quick()
//	err := realpath.Run(o)
//
// LANServer is the role the license server stand-in runs in.
package realpath
