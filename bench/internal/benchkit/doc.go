// Package benchkit holds what the benchmark's sections share: the test
// server's protocol (Serve), copies of the benchmark started in roles
// (Child), measurements and their medians (PingPong, Bulk, Alternate),
// /proc readings (RSSKB, CPUTicks), and `licgate serve` in its own process
// with a pre-filled store (Licgate.StartGateway).
//
// Typical usage, in a section:
//
//	server, _ := benchkit.Child(ctx, "server")
//	res, err := benchkit.Alternate([]benchkit.Target{{Name: "direct", Dial: benchkit.Dialer(server)}}, rounds, pings, bulkBytes)
//	fmt.Println(benchkit.Micros(benchkit.MedianDur(res["direct"].P50)))
package benchkit
