package scale

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licgate/licgate/bench/internal/benchkit"
	"github.com/licgate/licgate/internal/licsim"
	"github.com/licgate/licgate/tunnel"
)

// Options are the scale section's numbers.
type Options struct {
	Devices      int              // configured devices in the store
	Sessions     int              // concurrent sessions
	Clients      int              // home devices the sessions come from
	HeartbeatFor time.Duration    // how long every session sends heartbeats
	Licgate      benchkit.Licgate // how licgate runs (memory_limit, baseline binary)
}

// Run prints section 4: scale, with licgate as its own process.
func Run(o Options) error {
	sessions := o.Sessions
	fmt.Printf("## 4. Scale: %d configured devices, %d concurrent sessions from %d home devices (licgate in its own process)\n\n", o.Devices, sessions, o.Clients)
	if o.Licgate.MemoryLimit != "" {
		fmt.Printf("licgate runs with `memory_limit: %s`.\n\n", o.Licgate.MemoryLimit)
	}
	bin := filepath.Join(os.TempDir(), fmt.Sprintf("lgbench-licgate-%d", os.Getpid()))
	if err := benchkit.BuildLicgate(bin); err != nil {
		return err
	}
	defer os.Remove(bin)
	sr, err := scale(o.Licgate, bin, o.Devices, sessions, o.Clients, 5*time.Second, o.HeartbeatFor, 100)
	if err != nil {
		return err
	}
	fmt.Println("| measure | value |\n|---|---|")
	fmt.Printf("| resident memory, no sessions | %.1f MB |\n", float64(sr.baseRSS)/1024)
	fmt.Printf("| resident memory, %d sessions | %.1f MB |\n", sessions, float64(sr.rss)/1024)
	fmt.Printf("| per session | %.1f kB |\n", float64(sr.rss-sr.baseRSS)/float64(sessions))
	fmt.Printf("| CPU while idle (10 s, %d sessions open) | %.2f %% of one core |\n", sessions, sr.idleCPU)
	fmt.Printf("| heartbeats (every 5 s per session, %s) | %d, %d failed |\n", o.HeartbeatFor, sr.hbCount, sr.hbErrors)
	fmt.Printf("| heartbeat RTT p50 / p99, with 100 new sessions/s | %s / %s |\n", benchkit.Micros(sr.hbP50), benchkit.Micros(sr.hbP99))
	fmt.Printf("| new sessions opened and closed meanwhile | %d, %d failed |\n", sr.newSessions, sr.newFailed)
	d, err := startup10k(o.Licgate, bin)
	if err != nil {
		return err
	}
	fmt.Printf("| startup with 10,000 devices in the store (to API ready) | %s |\n\n", d.Round(time.Millisecond))
	return nil
}

type scaleResult struct {
	devices, sessions, clients int
	baseRSS, rss               int64 // kB
	idleCPU                    float64
	hbP50, hbP99               time.Duration
	hbCount, newSessions       int
	newFailed                  int64
	hbErrors                   int64
}

type hbConn struct {
	c net.Conn
	r *bufio.Reader
}

func scale(lg benchkit.Licgate, bin string, devices, sessions, clients int, hbEvery, hbFor time.Duration, newPerSec int) (*scaleResult, error) {
	res := &scaleResult{devices: devices, sessions: sessions, clients: clients}
	srv := &licsim.Server{Seats: sessions + newPerSec*int(hbFor/time.Second) + 100, IdleTimeout: time.Hour}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		return nil, err
	}
	defer srv.Close()
	keys := make([]tunnel.Key, clients)
	for i := range keys {
		keys[i], _ = tunnel.GenerateKey()
	}
	gw, _, err := lg.StartGateway(bin, devices, srv.Addr().String(), keys)
	if err != nil {
		return nil, err
	}
	defer gw.Stop()
	pid := gw.Cmd.Process.Pid
	time.Sleep(time.Second)
	res.baseRSS = benchkit.RSSKB(pid)
	// Device i has address 10.44.0.(i+2) (allocation order).
	devs := make([]*tunnel.Device, clients)
	for i := range devs {
		a := netip.AddrFrom4([4]byte{10, 44, byte((i + 2) >> 8), byte(i + 2)})
		d, err := tunnel.NewClient(context.Background(), tunnel.Profile{PrivateKey: keys[i], Address: netip.PrefixFrom(a, 32), PeerPublicKey: gw.Pub,
			Endpoint: "127.0.0.1:" + strconv.Itoa(gw.Port), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.44.0.1/32")}, PersistentKeepalive: 25}, nil)
		if err != nil {
			return nil, err
		}
		defer d.Close()
		devs[i] = d
	}
	open := func(d *tunnel.Device) (*hbConn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := d.DialContext(ctx, "tcp", "10.44.0.1:22350")
		if err != nil {
			return nil, err
		}
		lc := &hbConn{c: c, r: bufio.NewReader(c)}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(c, "HELLO bench\n")
		if ans, err := lc.r.ReadString('\n'); err != nil || !strings.HasPrefix(ans, "OK") {
			c.Close()
			return nil, fmt.Errorf("hello: %q %v", ans, err)
		}
		c.SetDeadline(time.Time{})
		return lc, nil
	}
	conns := make([]*hbConn, sessions)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	sem := make(chan struct{}, 64)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := open(devs[i%clients])
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, fmt.Errorf("opening %d sessions: %w", sessions, err)
	}
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.c.Close()
			}
		}
	}()
	time.Sleep(2 * time.Second)
	res.rss = benchkit.RSSKB(pid)
	if dir := os.Getenv("LICGATE_BENCH_PROFILES"); dir != "" {
		saveProfile(gw, "heap", filepath.Join(dir, "heap.pb.gz"))
		saveProfile(gw, "heap?debug=1", filepath.Join(dir, "heap.txt"))
	}
	// Idle: sessions open, no traffic but WireGuard keepalives.
	t0 := benchkit.CPUTicks(pid)
	time.Sleep(10 * time.Second)
	res.idleCPU = float64(benchkit.CPUTicks(pid)-t0) / 100 / 10 * 100

	// Heartbeats every hbEvery on every session, while newPerSec new
	// sessions per second open and close.
	var mu sync.Mutex
	var lat []time.Duration
	stop := make(chan struct{})
	var hbErrs atomic.Int64
	var hbWG sync.WaitGroup
	for i, c := range conns {
		hbWG.Add(1)
		go func() {
			defer hbWG.Done()
			time.Sleep(time.Duration(i) * hbEvery / time.Duration(len(conns)))
			t := time.NewTicker(hbEvery)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				start := time.Now()
				c.c.SetDeadline(start.Add(20 * time.Second))
				fmt.Fprintf(c.c, "PING %d\n", i)
				if _, err := c.r.ReadString('\n'); err != nil {
					hbErrs.Add(1)
					return
				}
				d := time.Since(start)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	var churn, churnFailed atomic.Int64
	var churnWG sync.WaitGroup
	churnDone := make(chan struct{})
	go func() {
		defer close(churnDone)
		t := time.NewTicker(time.Second / time.Duration(newPerSec))
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			churnWG.Add(1)
			go func() {
				defer churnWG.Done()
				c, err := open(devs[i%clients])
				if err != nil {
					churnFailed.Add(1)
					return
				}
				churn.Add(1)
				c.c.Close()
			}()
		}
	}()
	time.Sleep(hbFor)
	close(stop)
	hbWG.Wait()
	<-churnDone
	churnWG.Wait()
	res.hbCount = len(lat)
	res.hbP50, res.hbP99 = benchkit.Percentile(lat, 0.5), benchkit.Percentile(lat, 0.99)
	res.hbErrors = hbErrs.Load()
	res.newSessions = int(churn.Load())
	res.newFailed = churnFailed.Load()
	return res, nil
}

// startup10k times `licgate serve` until its API answers, with 10,000 devices in the store.
func startup10k(lg benchkit.Licgate, bin string) (time.Duration, error) {
	gw, d, err := lg.StartGateway(bin, 10000, "127.0.0.1:9", nil)
	if err != nil {
		return 0, err
	}
	gw.Stop()
	return d, nil
}

// saveProfile fetches a pprof profile from the gateway's admin socket.
func saveProfile(gw *benchkit.GatewayProc, name, path string) {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", filepath.Join(gw.Dir, "licgate.sock"))
	}}
	resp, err := (&http.Client{Transport: tr}).Get("http://licgate/debug/pprof/" + name)
	if err != nil {
		fmt.Fprintf(os.Stderr, "profile %s: %v\n", name, err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	io.Copy(f, resp.Body)
}
