// Command bench measures licgate against what IT would use instead:
// a direct connection, HAProxy and socat for the proxy alone; two bare
// wireguard-go netstack peers for the tunnel; plus connection setup, scale
// (thousands of sessions in one gateway process), the policy engine, and
// the audit log's cost, and the real path (section 7: a wg-quick home
// device, the gateway and a license server in network namespaces, against
// a routed wireguard-go gateway; needs root). Run it with `go run ./bench` (or `make bench`); it
// prints a Markdown report. Everything runs on loopback.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/acl/acltest"
	"github.com/licgate/licgate/gateway"
)

func main() {
	if role := os.Getenv(roleEnv); role != "" {
		runRole(role)
		return
	}
	quick := flag.Bool("quick", false, "smaller numbers (a minute instead of several)")
	skipScale := flag.Bool("skip-scale", false, "skip the scale section")
	only := flag.String("only", "", "run one section: proxy, tunnel, setup, acl, scale, realpath, startup (only when named)")
	flag.StringVar(only, "section", "", "the same as -only")
	flag.IntVar(&realOpts.rounds, "realpath-rounds", realOpts.rounds, "realpath: rounds (rows alternate within each)")
	flag.IntVar(&realOpts.scaleSessions, "realpath-sessions", realOpts.scaleSessions, "realpath: sessions in the scale row (0: no scale row)")
	flag.IntVar(&realOpts.scalePasses, "realpath-passes", realOpts.scalePasses, "realpath: passes of the scale row over its gateways")
	flag.DurationVar(&realOpts.scaleFor, "realpath-heartbeat-for", realOpts.scaleFor, "realpath: how long the scale row sends heartbeats")
	flag.DurationVar(&realOpts.budget, "realpath-budget", realOpts.budget, "realpath: time limit for the whole section")
	flag.BoolVar(&realOpts.oneP, "realpath-gomaxprocs1", false, "realpath: add a row with licgate netstack at GOMAXPROCS=1")
	flag.StringVar(&realOpts.profile, "realpath-profile", "", "realpath: write CPU profiles of licgate netstack (10 s each, from its admin socket) to PREFIX-rtt.pb.gz and PREFIX-setup.pb.gz")
	flag.StringVar(&memoryLimit, "memory-limit", "", "run licgate in the scale and realpath sections with this memory_limit (e.g. 160MiB)")
	flag.StringVar(&baselineBin, "baseline", "", "a licgate binary to compare with in the same run (realpath: a netstack row of its own; startup: paired runs)")
	flag.IntVar(&startupRuns, "startup-runs", startupRuns, "startup: runs per binary")
	flag.StringVar(&realOpts.rows, "realpath-rows", "", "realpath: comma-separated rows to run (ln, lt, ls, l1, lb, rm, none; the Debian routed row always runs), empty for all")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of this process (sections 2 and 3 run licgate in it)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	rounds, pings, bulkMB := 7, 3000, 64
	sessions, clients, devices := 5000, 50, 1000
	hbFor := 20 * time.Second
	if *quick {
		rounds, pings, bulkMB = 3, 1000, 16
		sessions, clients, hbFor = 1000, 20, 8*time.Second
		realOpts.rounds, realOpts.pings, realOpts.setups, realOpts.bulkBytes = min(realOpts.rounds, 3), 1000, 100, 4<<20
		realOpts.scaleSessions, realOpts.scaleFor = min(realOpts.scaleSessions, 200), min(realOpts.scaleFor, 10*time.Second)
	}
	fmt.Printf("# licgate benchmark\n\n%s, %d CPUs, %s, %s\n\n", machine(), runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format(time.RFC3339))
	sectionFilter = *only
	if err := run(rounds, pings, bulkMB<<20, sessions, clients, devices, hbFor, *skipScale); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

var sectionFilter string

// memoryLimit is the scale section's memory_limit ("" for none).
var memoryLimit string

func want(section string) bool { return sectionFilter == "" || sectionFilter == section }

func machine() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return runtime.GOARCH
}

func us(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d)/1e3) }

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func dialer(addr string) func() (net.Conn, error) {
	return func() (net.Conn, error) { return net.Dial("tcp", addr) }
}

func run(rounds, pings, bulkBytes, sessions, clients, devices int, hbFor time.Duration, skipScale bool) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	server, _ := child(ctx, "server")

	// 1. Proxy alone.
	if want("proxy") {
		if err := proxyAlone(ctx, server, rounds, pings, bulkBytes); err != nil {
			return err
		}
	}
	if want("tunnel") || want("setup") {
		if err := tunnelSections(server, rounds, pings, bulkBytes); err != nil {
			return err
		}
	}
	if want("acl") {
		if err := aclSection(); err != nil {
			return err
		}
	}
	if !skipScale && want("scale") {
		if err := scaleSection(sessions, clients, devices, hbFor); err != nil {
			return err
		}
	}
	if want("realpath") {
		if err := realPathSection(realOpts); err != nil {
			return err
		}
	}
	if sectionFilter == "startup" {
		return startupSection()
	}
	return nil
}

func proxyAlone(ctx context.Context, server string, rounds, pings, bulkBytes int) error {
	fmt.Printf("## 1. Proxy alone (loopback, %d rounds alternating, medians)\n\n", rounds)
	proxy, _ := child(ctx, "proxy", "LICGATE_BENCH_UPSTREAM="+server)
	targets := []target{{"direct", dialer(server)}, {"licgate proxy", dialer(proxy)}}
	// The same proxy held to one P: fewer thread wake-ups per message, which
	// is what a small VM pays most for (see docs/performance.md).
	proxy1, _ := child(ctx, "proxy", "LICGATE_BENCH_UPSTREAM="+server, "LICGATE_BENCH_PROXY_PROCS=1")
	targets = append(targets, target{"licgate proxy, GOMAXPROCS=1", dialer(proxy1)})
	if _, err := exec.LookPath("haproxy"); err == nil {
		port := freePort()
		cfg := filepath.Join(os.TempDir(), fmt.Sprintf("lgbench-haproxy-%d.cfg", os.Getpid()))
		os.WriteFile(cfg, []byte(fmt.Sprintf("global\n  maxconn 4000\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 5m\n  timeout server 5m\nfrontend f\n  bind 127.0.0.1:%d\n  default_backend b\nbackend b\n  server s1 %s\n", port, server)), 0o644)
		defer os.Remove(cfg)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if _, err := external(ctx, addr, "haproxy", "-f", cfg, "-db"); err != nil {
			return err
		}
		targets = append(targets, target{"haproxy", dialer(addr)})
	} else {
		fmt.Println("(haproxy not installed: apt-get install haproxy)")
	}
	if _, err := exec.LookPath("socat"); err == nil {
		port := freePort()
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if _, err := external(ctx, addr, "socat", fmt.Sprintf("TCP-LISTEN:%d,bind=127.0.0.1,fork,reuseaddr,nodelay", port), "TCP:"+server+",nodelay"); err != nil {
			return err
		}
		targets = append(targets, target{"socat", dialer(addr)})
	} else {
		fmt.Println("(socat not installed: apt-get install socat)")
	}
	res, err := alternate(targets, rounds, pings, bulkBytes)
	if err != nil {
		return err
	}
	fmt.Printf("64-byte request / 256-byte reply, %d per round; bulk %d MiB one way.\n\n", pings, bulkBytes>>20)
	fmt.Println("| path | p50 RTT | p99 RTT | bulk MB/s |\n|---|---|---|---|")
	for _, t := range targets {
		r := res[t.name]
		fmt.Printf("| %s | %s | %s | %.0f |\n", t.name, us(medianDur(r.p50)), us(medianDur(r.p99)), median(r.mbps))
	}
	fmt.Print("\nRatios are medians of per-round ratios (each round measures every row back to back).\n\n")
	lg, lg1 := res["licgate proxy"], res["licgate proxy, GOMAXPROCS=1"]
	fmt.Printf("- licgate / direct p50: %.2fx (GOMAXPROCS=1: %.2fx)\n", p50Ratio(lg, res["direct"]), p50Ratio(lg1, res["direct"]))
	if h := res["haproxy"]; h != nil {
		fmt.Printf("- licgate / haproxy p50: %.2fx (GOMAXPROCS=1: %.2fx); bulk: %.2fx (GOMAXPROCS=1: %.2fx)\n",
			p50Ratio(lg, h), p50Ratio(lg1, h), bulkRatio(lg, h), bulkRatio(lg1, h))
	}
	fmt.Print("\n")
	return nil
}

func tunnelSections(server string, rounds, pings, bulkBytes int) error {
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
	go serve(local)
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
	tres, err := alternate([]target{{rows[0], bare}, {rows[1], lgDial}, {rows[2], lgNoDelay}, {rows[3], lgFar}}, rounds, pings/2, bulkBytes/2)
	if err != nil {
		return err
	}
	fmt.Print("Server code is the same in every row; \"bare tunnel\" is two stock wireguard-go netstack peers (tun/netstack) with the server on the far peer's stack; in the licgate rows the client is the same stock peer and the server listens on loopback in this process behind licgate's proxy (or in another process). \"ack_delay 0\" turns off holding bare ACKs for the answer to carry.\n\n")
	fmt.Println("| path | p50 RTT | p99 RTT | bulk MB/s |\n|---|---|---|---|")
	for _, n := range rows {
		r := tres[n]
		fmt.Printf("| %s | %s | %s | %.0f |\n", n, us(medianDur(r.p50)), us(medianDur(r.p99)), median(r.mbps))
	}
	acks, _ := lgGW.AckStats()
	fmt.Printf("\nHeld ACKs in the \"licgate\" row: %d, carried by the answer %d, sent on their own %d.\n", acks.Held, acks.Carried, acks.Sent)
	fmt.Printf("\nlicgate / bare tunnel (medians of per-round ratios): p50 %.2fx, p99 %.2fx, bulk %.2fx; with ack_delay 0: p50 %.2fx\n\n",
		p50Ratio(tres[rows[1]], tres[rows[0]]), p99Ratio(tres[rows[1]], tres[rows[0]]), bulkRatio(tres[rows[1]], tres[rows[0]]), p50Ratio(tres[rows[2]], tres[rows[0]]))

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
	fmt.Printf("| on | %.0f | %s |\n| off | %.0f | %s |\n\n", median(withRate), us(medianDur(withTTFB)), median(withoutRate), us(medianDur(withoutTTFB)))
	fmt.Printf("## 6. Audit under load\n\nThe audit log is written by one goroutine in batches (one transaction per 256 records or 100 ms); the data path only queues a record. Setup time with it on / off: %.2fx.\n\n",
		float64(medianDur(withTTFB))/float64(medianDur(withoutTTFB)))
	stopNoAudit()
	stopLG()
	stopBare()
	return nil
}

func aclSection() error {
	// 5. ACL.
	fmt.Printf("## 5. Policy engine: Decide at 10,000 users / 1,000 rules\n\n")
	pol, err := acl.Parse("big.yaml", []byte(acltest.BigPolicy(10000, 1000)))
	if err != nil {
		return err
	}
	eng, _, err := acl.Compile(pol, []string{"codemeter", "flexlm"})
	if err != nil {
		return err
	}
	reqs := make([]acl.Request, 1024)
	now := time.Date(2026, 6, 3, 12, 0, 0, 0, eng.Location())
	for i := range reqs {
		reqs[i] = acl.Request{User: fmt.Sprintf("u%d", (i*7919)%10000), Device: "pc", Service: []string{"codemeter", "flexlm"}[i%2],
			Time: now.Add(time.Duration(i) * 17 * time.Minute), Counts: acl.MapCounts{"user": 1}}
	}
	br := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			eng.Decide(reqs[i&1023])
		}
	})
	fmt.Printf("Decide: %d ns/op, %d allocs/op (%d B/op)\n\n", br.NsPerOp(), br.AllocsPerOp(), br.AllocedBytesPerOp())
	return nil
}

func scaleSection(sessions, clients, devices int, hbFor time.Duration) error {
	// 4. Scale, with licgate as its own process.
	fmt.Printf("## 4. Scale: %d configured devices, %d concurrent sessions from %d home devices (licgate in its own process)\n\n", devices, sessions, clients)
	if memoryLimit != "" {
		fmt.Printf("licgate runs with `memory_limit: %s`.\n\n", memoryLimit)
	}
	bin := filepath.Join(os.TempDir(), fmt.Sprintf("lgbench-licgate-%d", os.Getpid()))
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/licgate/licgate/cmd/licgate").CombinedOutput(); err != nil {
		return fmt.Errorf("build licgate: %v\n%s", err, out)
	}
	defer os.Remove(bin)
	sr, err := scale(bin, devices, sessions, clients, 5*time.Second, hbFor, 100)
	if err != nil {
		return err
	}
	fmt.Println("| measure | value |\n|---|---|")
	fmt.Printf("| resident memory, no sessions | %.1f MB |\n", float64(sr.baseRSS)/1024)
	fmt.Printf("| resident memory, %d sessions | %.1f MB |\n", sessions, float64(sr.rss)/1024)
	fmt.Printf("| per session | %.1f kB |\n", float64(sr.rss-sr.baseRSS)/float64(sessions))
	fmt.Printf("| CPU while idle (10 s, %d sessions open) | %.2f %% of one core |\n", sessions, sr.idleCPU)
	fmt.Printf("| heartbeats (every 5 s per session, %s) | %d, %d failed |\n", hbFor, sr.hbCount, sr.hbErrors)
	fmt.Printf("| heartbeat RTT p50 / p99, with 100 new sessions/s | %s / %s |\n", us(sr.hbP50), us(sr.hbP99))
	fmt.Printf("| new sessions opened and closed meanwhile | %d, %d failed |\n", sr.newSessions, sr.newFailed)
	d, err := startup10k(bin)
	if err != nil {
		return err
	}
	fmt.Printf("| startup with 10,000 devices in the store (to API ready) | %s |\n\n", d.Round(time.Millisecond))
	return nil
}
