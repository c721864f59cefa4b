package proxycmp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/bench/internal/benchkit"
	"github.com/licgate/licgate/proxy"
	"github.com/licgate/licgate/session"
)

// Run prints section 1: the test server (at server, in another process)
// reached directly, through licgate's proxy in a process of its own (also
// held to one P), and through HAProxy and socat when they are installed.
func Run(ctx context.Context, server string, rounds, pings, bulkBytes int) error {
	fmt.Printf("## 1. Proxy alone (loopback, %d rounds alternating, medians)\n\n", rounds)
	lgProxy, _ := benchkit.Child(ctx, "proxy", "LICGATE_BENCH_UPSTREAM="+server)
	targets := []benchkit.Target{
		{Name: "direct", Dial: benchkit.Dialer(server)},
		{Name: "licgate proxy", Dial: benchkit.Dialer(lgProxy)},
	}
	// The same proxy held to one P: fewer thread wake-ups per message, which
	// is what a small VM pays most for (see docs/performance.md).
	lgProxy1, _ := benchkit.Child(ctx, "proxy", "LICGATE_BENCH_UPSTREAM="+server, "LICGATE_BENCH_PROXY_PROCS=1")
	targets = append(targets, benchkit.Target{Name: "licgate proxy, GOMAXPROCS=1", Dial: benchkit.Dialer(lgProxy1)})
	if _, err := exec.LookPath("haproxy"); err == nil {
		port := benchkit.FreePort()
		cfg := filepath.Join(os.TempDir(), fmt.Sprintf("lgbench-haproxy-%d.cfg", os.Getpid()))
		os.WriteFile(cfg, []byte(fmt.Sprintf("global\n  maxconn 4000\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 5m\n  timeout server 5m\nfrontend f\n  bind 127.0.0.1:%d\n  default_backend b\nbackend b\n  server s1 %s\n", port, server)), 0o644)
		defer os.Remove(cfg)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if _, err := benchkit.External(ctx, addr, "haproxy", "-f", cfg, "-db"); err != nil {
			return err
		}
		targets = append(targets, benchkit.Target{Name: "haproxy", Dial: benchkit.Dialer(addr)})
	} else {
		fmt.Println("(haproxy not installed: apt-get install haproxy)")
	}
	if _, err := exec.LookPath("socat"); err == nil {
		port := benchkit.FreePort()
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if _, err := benchkit.External(ctx, addr, "socat", fmt.Sprintf("TCP-LISTEN:%d,bind=127.0.0.1,fork,reuseaddr,nodelay", port), "TCP:"+server+",nodelay"); err != nil {
			return err
		}
		targets = append(targets, benchkit.Target{Name: "socat", Dial: benchkit.Dialer(addr)})
	} else {
		fmt.Println("(socat not installed: apt-get install socat)")
	}
	res, err := benchkit.Alternate(targets, rounds, pings, bulkBytes)
	if err != nil {
		return err
	}
	fmt.Printf("64-byte request / 256-byte reply, %d per round; bulk %d MiB one way.\n\n", pings, bulkBytes>>20)
	fmt.Println("| path | p50 RTT | p99 RTT | bulk MB/s |\n|---|---|---|---|")
	for _, t := range targets {
		r := res[t.Name]
		fmt.Printf("| %s | %s | %s | %.0f |\n", t.Name, benchkit.Micros(benchkit.MedianDur(r.P50)), benchkit.Micros(benchkit.MedianDur(r.P99)), benchkit.Median(r.MBps))
	}
	fmt.Print("\nRatios are medians of per-round ratios (each round measures every row back to back).\n\n")
	lg, lg1 := res["licgate proxy"], res["licgate proxy, GOMAXPROCS=1"]
	fmt.Printf("- licgate / direct p50: %.2fx (GOMAXPROCS=1: %.2fx)\n", benchkit.P50Ratio(lg, res["direct"]), benchkit.P50Ratio(lg1, res["direct"]))
	if h := res["haproxy"]; h != nil {
		fmt.Printf("- licgate / haproxy p50: %.2fx (GOMAXPROCS=1: %.2fx); bulk: %.2fx (GOMAXPROCS=1: %.2fx)\n",
			benchkit.P50Ratio(lg, h), benchkit.P50Ratio(lg1, h), benchkit.BulkRatio(lg, h), benchkit.BulkRatio(lg1, h))
	}
	fmt.Print("\n")
	return nil
}

// ProxyRole is the "proxy" role: licgate's proxy alone, on a free
// loopback port that it prints, in front of $LICGATE_BENCH_UPSTREAM,
// letting every connection through. It serves until the process ends.
func ProxyRole() {
	upstream := os.Getenv("LICGATE_BENCH_UPSTREAM")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	p := &proxy.Proxy{
		Service: "bench", Upstream: upstream,
		Identify: func(a netip.Addr) (*session.Identity, bool) {
			return &session.Identity{DeviceID: 1, Device: "d", User: "u", Address: a}, true
		},
		Authorize: func(*session.Identity, string, acl.Counts) (session.Admission, error) {
			return session.Admission{}, nil
		},
		Sessions: session.NewSessionTable(),
	}
	fmt.Println(ln.Addr())
	p.ServeTCP(ln)
}
