package tunnelcmp

import (
	"fmt"
	"net"
	"time"

	"github.com/licgate/licgate/bench/internal/benchkit"
	"github.com/licgate/licgate/gateway"
)

// Run prints sections 2 (tunnel + proxy against the bare tunnel), 3
// (connection setup through the tunnel) and 6 (the audit log's cost).
// server is the address of the test server in another process.
func Run(server string, rounds, pings, bulkBytes int) error {
	// 2. Tunnel + proxy against the bare tunnel.
	fmt.Printf("## 2. Tunnel + proxy against the bare tunnel (netstack peers, in one process)\n\n")
	bare, stopBare, err := bareTunnel()
	if err != nil {
		return err
	}
	// The same server code, in this process like the bare tunnel's, but on
	// loopback behind licgate's proxy.
	local, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer local.Close()
	go benchkit.Serve(local)
	lgDial, lgGW, stopLG, err := licgateTunnel(local.Addr().String(), "")
	if err != nil {
		return err
	}
	lgNoDelay, _, stopNoDelay, err := licgateTunnel(local.Addr().String(), "0")
	if err != nil {
		return err
	}
	defer stopNoDelay()
	lgFar, _, stopFar, err := licgateTunnel(server, "")
	if err != nil {
		return err
	}
	defer stopFar()
	rows := []string{"bare tunnel", "licgate", "licgate, ack_delay 0", "licgate, server in another process"}
	targets := []benchkit.Target{
		{Name: rows[0], Dial: bare},
		{Name: rows[1], Dial: lgDial},
		{Name: rows[2], Dial: lgNoDelay},
		{Name: rows[3], Dial: lgFar},
	}
	tres, err := benchkit.Alternate(targets, rounds, pings/2, bulkBytes/2)
	if err != nil {
		return err
	}
	fmt.Print("Server code is the same in every row; \"bare tunnel\" is two stock wireguard-go netstack peers (tun/netstack) with the server on the far peer's stack; in the licgate rows the client is the same stock peer and the server listens on loopback in this process behind licgate's proxy (or in another process). \"ack_delay 0\" turns off holding bare ACKs for the answer to carry.\n\n")
	fmt.Println("| path | p50 RTT | p99 RTT | bulk MB/s |\n|---|---|---|---|")
	for _, n := range rows {
		r := tres[n]
		fmt.Printf("| %s | %s | %s | %.0f |\n", n, benchkit.Micros(benchkit.MedianDur(r.P50)), benchkit.Micros(benchkit.MedianDur(r.P99)), benchkit.Median(r.MBps))
	}
	acks, _ := lgGW.AckStats()
	fmt.Printf("\nHeld ACKs in the \"licgate\" row: %d, carried by the answer %d, sent on their own %d.\n", acks.Held, acks.Carried, acks.Sent)
	fmt.Printf("\nlicgate / bare tunnel (medians of per-round ratios): p50 %.2fx, p99 %.2fx, bulk %.2fx; with ack_delay 0: p50 %.2fx\n\n",
		benchkit.P50Ratio(tres[rows[1]], tres[rows[0]]), benchkit.P99Ratio(tres[rows[1]], tres[rows[0]]), benchkit.BulkRatio(tres[rows[1]], tres[rows[0]]), benchkit.P50Ratio(tres[rows[2]], tres[rows[0]]))

	// 3 and 6. Connection setup, with and without the audit log.
	fmt.Printf("## 3. Connection setup through the tunnel (policy decision and audit write included)\n\n")
	noAuditDial, _, stopNoAudit, err := licgateTunnel(local.Addr().String(), "", gateway.WithoutAudit())
	if err != nil {
		return err
	}
	var withRate, withoutRate []float64
	var withTTFB, withoutTTFB []time.Duration
	for r := 0; r < rounds; r++ {
		rate, ttfb, err := connectRate(lgDial, 300)
		if err != nil {
			return err
		}
		withRate, withTTFB = append(withRate, rate), append(withTTFB, ttfb)
		rate, ttfb, err = connectRate(noAuditDial, 300)
		if err != nil {
			return err
		}
		withoutRate, withoutTTFB = append(withoutRate, rate), append(withoutTTFB, ttfb)
	}
	fmt.Println("| audit log | new sessions/s (sequential) | time to first byte p50 |\n|---|---|---|")
	fmt.Printf("| on | %.0f | %s |\n| off | %.0f | %s |\n\n", benchkit.Median(withRate), benchkit.Micros(benchkit.MedianDur(withTTFB)), benchkit.Median(withoutRate), benchkit.Micros(benchkit.MedianDur(withoutTTFB)))
	fmt.Printf("## 6. Audit under load\n\nThe audit log is written by one goroutine in batches (one transaction per 256 records or 100 ms); the data path only queues a record. Setup time with it on / off: %.2fx.\n\n",
		float64(benchkit.MedianDur(withTTFB))/float64(benchkit.MedianDur(withoutTTFB)))
	stopNoAudit()
	stopLG()
	stopBare()
	return nil
}
