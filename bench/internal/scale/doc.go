// Package scale is the benchmark's section 4 (`go run ./bench -only
// scale`): thousands of sessions from licgate netstack clients in one
// gateway process, its memory and idle CPU, heartbeat round trips while
// new sessions open and close, and its start with 10,000 devices.
//
// Typical usage:
//
//	err := scale.Run(scale.Options{Devices: 1000, Sessions: 5000, Clients: 50, HeartbeatFor: 20 * time.Second})
package scale
