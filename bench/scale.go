package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/licgate/licgate/adminapi"

	"github.com/licgate/licgate/internal/licsim"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/local"
	"github.com/licgate/licgate/tunnel"
)

type scaleResult struct {
	devices, sessions, clients int
	baseRSS, rss               int64 // kB
	idleCPU                    float64
	hbP50, hbP99               time.Duration
	hbCount, newSessions       int
	newFailed                  int64
	hbErrors                   int64
}

// rssKB reads VmRSS of pid.
func rssKB(pid int) int64 {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// cpuTicks is utime+stime of pid in clock ticks (1/100 s).
func cpuTicks(pid int) int64 {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

func freeUDPPort() int {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// gatewayProc is licgate serve in its own process with a pre-filled store.
type gatewayProc struct {
	dir  string
	cmd  *exec.Cmd
	pub  tunnel.Key
	port int
}

func startGateway(bin string, devices int, upstream string, active []tunnel.Key) (*gatewayProc, time.Duration, error) {
	dir, err := os.MkdirTemp("", "lgscale")
	if err != nil {
		return nil, 0, err
	}
	key, _ := tunnel.GenerateKey()
	os.WriteFile(filepath.Join(dir, "wireguard.key"), []byte(key.String()+"\n"), 0o600)
	ctx := context.Background()
	st, err := local.Open(ctx, dir)
	if err != nil {
		return nil, 0, err
	}
	pool := store.Pool{Subnet: netip.MustParsePrefix("10.44.0.0/16"), Reserved: []netip.Addr{netip.MustParseAddr("10.44.0.1")}}
	var nds []store.NewDevice
	for u := 0; u < devices/50+1; u++ {
		st.AddUser(ctx, fmt.Sprintf("user%03d", u), "")
	}
	for i := 0; i < devices; i++ {
		var pub string
		if i < len(active) {
			pub = active[i].PublicKey().String()
		} else {
			k, _ := tunnel.GenerateKey()
			pub = k.PublicKey().String()
		}
		nds = append(nds, store.NewDevice{User: fmt.Sprintf("user%03d", i/50), Name: fmt.Sprintf("dev%05d", i), PublicKey: pub})
	}
	if _, err := st.AddDevices(ctx, nds, pool); err != nil {
		return nil, 0, err
	}
	st.Close()
	port := freeUDPPort()
	cfg := fmt.Sprintf(`state_dir: %s
log_level: warn
tunnel:
  listen_port: %d
  subnet: 10.44.0.0/16
  endpoint: 127.0.0.1
services:
  - name: codemeter
    port: 22350
    upstream: %s
%spolicy:
  rules:
    - {action: allow, who: ["*"]}
enforcement:
  vanished_after: 30m
`, dir, port, upstream, reconnectOff(bin))
	if memoryLimit != "" {
		cfg += "memory_limit: " + memoryLimit + "\n"
	}
	os.WriteFile(filepath.Join(dir, "licgate.yaml"), []byte(cfg), 0o600)
	cmd := exec.Command(bin, "serve", "-c", filepath.Join(dir, "licgate.yaml"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, _ := os.Create(filepath.Join(dir, "licgate.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	api := adminapi.NewClient(filepath.Join(dir, "licgate.sock"))
	for {
		var h adminapi.Health
		if err := api.Do(ctx, "GET", "/api/v1/health", nil, &h); err == nil && h.Devices == devices {
			break
		}
		if time.Since(start) > 120*time.Second {
			cmd.Process.Kill()
			return nil, 0, fmt.Errorf("licgate with %d devices did not start in 120 s", devices)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &gatewayProc{dir: dir, cmd: cmd, pub: key.PublicKey(), port: port}, time.Since(start), nil
}

// reconnectOff is the service line that turns the reconnect rule off
// (config reconnect_silence, issue 25): the benchmark's home devices
// each hold many sessions at once, standing in for many users, and the
// rule would cut a device's earlier silent seats whenever it opens a new
// one. Empty for the baseline binary, which predates the setting.
func reconnectOff(bin string) string {
	if bin != "" && bin == baselineBin {
		return ""
	}
	return "    reconnect_silence: \"off\"\n"
}

func (g *gatewayProc) stop() {
	g.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { g.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		g.cmd.Process.Kill()
	}
	os.RemoveAll(g.dir)
}

type hbConn struct {
	c net.Conn
	r *bufio.Reader
}

func scale(bin string, devices, sessions, clients int, hbEvery, hbFor time.Duration, newPerSec int) (*scaleResult, error) {
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
	gw, _, err := startGateway(bin, devices, srv.Addr().String(), keys)
	if err != nil {
		return nil, err
	}
	defer gw.stop()
	pid := gw.cmd.Process.Pid
	time.Sleep(time.Second)
	res.baseRSS = rssKB(pid)
	// Device i has address 10.44.0.(i+2) (allocation order).
	devs := make([]*tunnel.Device, clients)
	for i := range devs {
		a := netip.AddrFrom4([4]byte{10, 44, byte((i + 2) >> 8), byte(i + 2)})
		d, err := tunnel.NewClient(context.Background(), tunnel.Profile{PrivateKey: keys[i], Address: netip.PrefixFrom(a, 32), PeerPublicKey: gw.pub,
			Endpoint: "127.0.0.1:" + strconv.Itoa(gw.port), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.44.0.1/32")}, PersistentKeepalive: 25}, nil)
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
	res.rss = rssKB(pid)
	if dir := os.Getenv("LICGATE_BENCH_PROFILES"); dir != "" {
		saveProfile(gw, "heap", filepath.Join(dir, "heap.pb.gz"))
		saveProfile(gw, "heap?debug=1", filepath.Join(dir, "heap.txt"))
	}
	// Idle: sessions open, no traffic but WireGuard keepalives.
	t0 := cpuTicks(pid)
	time.Sleep(10 * time.Second)
	res.idleCPU = float64(cpuTicks(pid)-t0) / 100 / 10 * 100

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
	res.hbP50, res.hbP99 = percentile(lat, 0.5), percentile(lat, 0.99)
	res.hbErrors = hbErrs.Load()
	res.newSessions = int(churn.Load())
	res.newFailed = churnFailed.Load()
	return res, nil
}

// startup10k times `licgate serve` until its API answers, with 10,000 devices in the store.
func startup10k(bin string) (time.Duration, error) {
	gw, d, err := startGateway(bin, 10000, "127.0.0.1:9", nil)
	if err != nil {
		return 0, err
	}
	gw.stop()
	return d, nil
}

// saveProfile fetches a pprof profile from the gateway's admin socket.
func saveProfile(gw *gatewayProc, name, path string) {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", filepath.Join(gw.dir, "licgate.sock"))
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
