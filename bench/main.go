// Command bench measures licgate against what IT would use instead:
// a direct connection, HAProxy and socat for the proxy alone; two bare
// wireguard-go netstack peers for the tunnel; plus connection setup, scale
// (thousands of sessions in one gateway process), the policy engine, and
// the audit log's cost, and the real path (section 7: a wg-quick home
// device, the gateway and a license server in network namespaces, against
// a routed wireguard-go gateway; needs root). Run it with `go run ./bench` (or `make bench`); it
// prints a Markdown report. Everything runs on loopback.
//
// Each section is a package of its own under bench/internal: proxycmp
// (1), tunnelcmp (2, 3 and 6), scale (4), realpath (7) and startup (8),
// with benchkit for what they share. This command holds the flags, the
// order of the sections, the roles its copies run in, and section 5, the
// policy engine (it uses acl/acltest, a test fixture that no library
// package may link).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/acl/acltest"
	"github.com/licgate/licgate/bench/internal/benchkit"
	"github.com/licgate/licgate/bench/internal/proxycmp"
	"github.com/licgate/licgate/bench/internal/realpath"
	"github.com/licgate/licgate/bench/internal/scale"
	"github.com/licgate/licgate/bench/internal/startup"
	"github.com/licgate/licgate/bench/internal/tunnelcmp"
)

func main() {
	if role := os.Getenv(benchkit.RoleEnv); role != "" {
		runRole(role)
		return
	}
	realOpts := realpath.DefaultOptions()
	var lg benchkit.Licgate
	startupRuns := 5
	quick := flag.Bool("quick", false, "smaller numbers (a minute instead of several)")
	skipScale := flag.Bool("skip-scale", false, "skip the scale section")
	only := flag.String("only", "", "run one section: proxy, tunnel, setup, acl, scale, realpath, startup (only when named)")
	flag.StringVar(only, "section", "", "the same as -only")
	flag.IntVar(&realOpts.Rounds, "realpath-rounds", realOpts.Rounds, "realpath: rounds (rows alternate within each)")
	flag.IntVar(&realOpts.ScaleSessions, "realpath-sessions", realOpts.ScaleSessions, "realpath: sessions in the scale row (0: no scale row)")
	flag.IntVar(&realOpts.ScalePasses, "realpath-passes", realOpts.ScalePasses, "realpath: passes of the scale row over its gateways")
	flag.DurationVar(&realOpts.ScaleFor, "realpath-heartbeat-for", realOpts.ScaleFor, "realpath: how long the scale row sends heartbeats")
	flag.DurationVar(&realOpts.Budget, "realpath-budget", realOpts.Budget, "realpath: time limit for the whole section")
	flag.BoolVar(&realOpts.OneP, "realpath-gomaxprocs1", false, "realpath: add a row with licgate netstack at GOMAXPROCS=1")
	flag.StringVar(&realOpts.Profile, "realpath-profile", "", "realpath: write CPU profiles of licgate netstack (10 s each, from its admin socket) to PREFIX-rtt.pb.gz and PREFIX-setup.pb.gz")
	flag.StringVar(&lg.MemoryLimit, "memory-limit", "", "run licgate in the scale and realpath sections with this memory_limit (e.g. 160MiB)")
	flag.StringVar(&lg.Baseline, "baseline", "", "a licgate binary to compare with in the same run (realpath: a netstack row of its own; startup: paired runs)")
	flag.IntVar(&startupRuns, "startup-runs", startupRuns, "startup: runs per binary")
	flag.StringVar(&realOpts.Rows, "realpath-rows", "", "realpath: comma-separated rows to run (ln, lt, lf, ls, l1, lb, rm, none; the Debian routed row always runs), empty for all")
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
	realOpts.Licgate = lg
	rounds, pings, bulkMB := 7, 3000, 64
	sc := scale.Options{Devices: 1000, Sessions: 5000, Clients: 50, HeartbeatFor: 20 * time.Second, Licgate: lg}
	if *quick {
		rounds, pings, bulkMB = 3, 1000, 16
		sc.Sessions = 1000
		sc.Clients = 20
		sc.HeartbeatFor = 8 * time.Second
		realOpts.Quick()
	}
	fmt.Printf("# licgate benchmark\n\n%s, %d CPUs, %s, %s\n\n", benchkit.Machine(), runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format(time.RFC3339))
	s := sections{
		only:        *only,
		skipScale:   *skipScale,
		rounds:      rounds,
		pings:       pings,
		bulkBytes:   bulkMB << 20,
		scale:       sc,
		realpath:    realOpts,
		licgate:     lg,
		startupRuns: startupRuns,
	}
	if err := s.run(); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// sections is what the command line chose to run, and with which numbers.
type sections struct {
	only        string // -only: one section; "" for all but startup
	skipScale   bool   // -skip-scale
	rounds      int    // sections 1 to 3: rounds, rows alternating within each
	pings       int    // sections 1 and 2: round trips per row and round
	bulkBytes   int    // sections 1 and 2: bulk bytes per row and round
	scale       scale.Options
	realpath    realpath.Options
	licgate     benchkit.Licgate // startup: the baseline binary
	startupRuns int              // startup: runs per binary
}

func (s sections) want(section string) bool { return s.only == "" || s.only == section }

func (s sections) run() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	server, _ := benchkit.Child(ctx, "server")

	// 1. Proxy alone.
	if s.want("proxy") {
		if err := proxycmp.Run(ctx, server, s.rounds, s.pings, s.bulkBytes); err != nil {
			return err
		}
	}
	if s.want("tunnel") || s.want("setup") {
		if err := tunnelcmp.Run(server, s.rounds, s.pings, s.bulkBytes); err != nil {
			return err
		}
	}
	if s.want("acl") {
		if err := aclSection(); err != nil {
			return err
		}
	}
	if !s.skipScale && s.want("scale") {
		if err := scale.Run(s.scale); err != nil {
			return err
		}
	}
	if s.want("realpath") {
		if err := realpath.Run(s.realpath); err != nil {
			return err
		}
	}
	if s.only == "startup" {
		return startup.Run(s.licgate, s.startupRuns)
	}
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
