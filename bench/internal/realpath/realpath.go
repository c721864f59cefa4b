package realpath

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/bench/internal/benchkit"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/local"
	"github.com/licgate/licgate/tunnel"
)

// Options are the real-path section's knobs (flags in bench's main.go).
type Options struct {
	Rounds        int           // rounds; rows alternate within each
	Pings         int           // round trips per row and round
	Setups        int           // new connections per row and round
	BulkBytes     int           // bytes up and down per row and round; 0 for no bulk
	ScaleDevices  int           // home devices (namespaces) of the scale row
	ScaleSessions int           // sessions in the scale row; 0 for no scale row
	ScaleEvery    time.Duration // heartbeat interval of the scale row
	ScaleFor      time.Duration // how long the scale row sends heartbeats
	ScalePasses   int           // passes of the scale row over its gateways
	Budget        time.Duration // the whole section, setup included
	Profile       string        // prefix for licgate CPU profiles; "" for none
	OneP          bool          // add a row: licgate netstack with GOMAXPROCS=1
	Rows          string        // comma-separated short names of the rows to run; "" for all
	// Licgate is the memory_limit of every licgate row and the baseline
	// binary of the "lb" row.
	Licgate benchkit.Licgate
}

// DefaultOptions are the numbers of a full run.
func DefaultOptions() Options {
	return Options{
		Rounds:        7,
		Pings:         3000,
		Setups:        300,
		BulkBytes:     16 << 20,
		ScaleDevices:  20,
		ScaleSessions: 1000,
		ScaleEvery:    2 * time.Second,
		ScaleFor:      30 * time.Second,
		ScalePasses:   3,
		Budget:        25 * time.Minute,
	}
}

// Quick lowers the numbers for -quick (about a minute).
func (o *Options) Quick() {
	o.Rounds = min(o.Rounds, 3)
	o.Pings = 1000
	o.Setups = 100
	o.BulkBytes = 4 << 20
	o.ScaleSessions = min(o.ScaleSessions, 200)
	o.ScaleFor = min(o.ScaleFor, 10*time.Second)
}

// The real path's addresses. The home namespace reaches the office over
// a veth pair (10.99.0.0/24, standing in for the internet); the office
// reaches the LAN over another (192.168.77.0/24). The license server
// has three LAN addresses: one per routed gateway and one reached with
// no tunnel at all, so that every row has its own route from home.
const (
	rpHomeAddr   = "10.99.0.2"
	rpOfficeWAN  = "10.99.0.1"
	rpOfficeLAN  = "192.168.77.1"
	rpServer     = "192.168.77.10" // licgate's upstream; routed wireguard-go (Debian)
	rpServerMod  = "192.168.77.11" // routed wireguard-go built from licgate's go.mod
	rpServerNone = "192.168.77.12" // no tunnel
	rpServerPort = 7000
)

// rpGateway is one row: a way from the home namespace to the license server.
type rpGateway struct {
	name    string
	short   string // for interface names (<= 3 characters)
	kind    string // licgate, routed, none
	subnet  netip.Prefix
	port    int    // WireGuard listen port
	target  string // the license server as the home device dials it
	allowed string // AllowedIPs of the home profile
	yaml    string // licgate: extra lines in the tunnel section
	bin     string // routed: the wireguard-go binary
	pub     tunnel.Key
	cmd     *exec.Cmd
	dir     string
	addrs   []netip.Addr // the devices' tunnel addresses, in key order
	scale   bool         // part of the scale row
	env     []string     // licgate: extra environment
	// sourceTunnel sets the service's `source: tunnel` (licgate).
	sourceTunnel bool
}

func (g *rpGateway) pid() int {
	if g.cmd == nil || g.cmd.Process == nil {
		return 0
	}
	return g.cmd.Process.Pid
}

// rpRound is one row's measurements of one round.
type rpRound struct {
	p50, p99, setup time.Duration
	up, down        float64 // MB/s
	cpuRT, cpuSetup time.Duration
	ctxRT           float64
	ok              bool
}

// Run prints section 7: the real path, from a home device (wg-quick +
// wireguard-go) through each gateway to a license server on the LAN, in
// network namespaces. Without root, or without iproute2 and WireGuard's
// tools, it prints why it skipped.
func Run(o Options) error {
	fmt.Printf("## 7. The real path: home device (wg-quick + wireguard-go) -> gateway -> license server on the LAN (namespaces)\n\n")
	if os.Geteuid() != 0 {
		fmt.Print("Skipped: needs root (network namespaces, TUN devices). Run `sudo go run ./bench -section realpath`.\n\n")
		return nil
	}
	for _, p := range []string{"ip", "wg", "wg-quick", "wireguard-go"} {
		if _, err := exec.LookPath(p); err != nil {
			fmt.Printf("Skipped: %s is not installed (apt-get install iproute2 wireguard-tools wireguard-go).\n\n", p)
			return nil
		}
	}
	sectionStart := time.Now()
	deadline := sectionStart.Add(o.Budget)
	loadBefore := loadAvg()
	l, err := newLab()
	if err != nil {
		return err
	}
	defer l.cleanup()
	defer func() {
		if p := recover(); p != nil {
			l.cleanup()
			panic(p)
		}
	}()

	// Binaries: licgate, and wireguard-go at the version licgate links.
	lgBin := filepath.Join(l.dir, "licgate")
	if out, err := exec.Command("go", "build", "-o", lgBin, "github.com/licgate/licgate/cmd/licgate").CombinedOutput(); err != nil {
		return fmt.Errorf("build licgate: %v\n%s", err, out)
	}
	modWG := filepath.Join(l.dir, "wireguard-go-mod")
	modVersion := wgModuleVersion()
	haveMod := true
	if out, err := exec.Command("go", "build", "-o", modWG, "golang.zx2c4.com/wireguard").CombinedOutput(); err != nil {
		fmt.Printf("(wireguard-go %s from the module proxy did not build: %v %s; row skipped)\n\n", modVersion, err, out)
		haveMod = false
	}
	debWG, _ := exec.LookPath("wireguard-go")
	debVersion := wgBinVersion(debWG)

	// Namespaces and links.
	home, err := l.ns("home")
	if err != nil {
		return err
	}
	office, err := l.ns("office")
	if err != nil {
		return err
	}
	lan, err := l.ns("lan")
	if err != nil {
		return err
	}
	if err := l.link(home, office, "h", "o", rpHomeAddr+"/24", rpOfficeWAN+"/24"); err != nil {
		return err
	}
	if err := l.link(office, lan, "ol", "l", rpOfficeLAN+"/24", rpServer+"/24"); err != nil {
		return err
	}
	scaleNS := make([]string, o.ScaleDevices)
	for i := range scaleNS {
		if scaleNS[i], err = l.ns(fmt.Sprintf("s%d", i)); err != nil {
			return err
		}
		if err := l.link(scaleNS[i], office, fmt.Sprintf("s%d", i), fmt.Sprintf("os%d", i), fmt.Sprintf("10.97.%d.2/24", i), fmt.Sprintf("10.97.%d.1/24", i)); err != nil {
			return err
		}
	}
	for _, c := range [][]string{
		{"ip", "-n", lan, "addr", "add", rpServerMod + "/24", "dev", "vl" + l.tag},
		{"ip", "-n", lan, "addr", "add", rpServerNone + "/24", "dev", "vl" + l.tag},
		{"ip", "-n", lan, "route", "add", "10.0.0.0/8", "via", rpOfficeLAN},
		{"ip", "-n", home, "route", "add", rpServerNone + "/32", "via", rpOfficeWAN},
		{"ip", "netns", "exec", office, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
	} {
		if err := sh(c...); err != nil {
			return err
		}
	}

	// The license server stand-in, in its own process on the LAN.
	self, _ := os.Executable()
	if _, err := l.start(lan, "server.log", []string{benchkit.RoleEnv + "=lanserver", "LICGATE_BENCH_LISTEN=0.0.0.0:" + strconv.Itoa(rpServerPort)}, self); err != nil {
		return err
	}
	if err := waitDial(lan, net.JoinHostPort(rpServer, strconv.Itoa(rpServerPort)), 20*time.Second); err != nil {
		return fmt.Errorf("license server stand-in: %w", err)
	}

	// Client keys: 0 is the home device of the latency rows, 1..n the
	// scale row's home devices.
	keys := make([]tunnel.Key, 1+o.ScaleDevices)
	for i := range keys {
		keys[i], _ = tunnel.GenerateKey()
	}
	upstream := net.JoinHostPort(rpServer, strconv.Itoa(rpServerPort))
	gws := []*rpGateway{
		{name: "licgate netstack", short: "ln", kind: "licgate", subnet: netip.MustParsePrefix("10.44.0.0/24"), port: 51820, scale: true},
		{name: "licgate tun", short: "lt", kind: "licgate", subnet: netip.MustParsePrefix("10.45.0.0/24"), port: 51821, scale: true,
			yaml: "  mode: tun\n  interface: brt" + l.tag + "\n"},
		{name: "licgate netstack, source: tunnel", short: "ls", kind: "licgate", subnet: netip.MustParsePrefix("10.46.0.0/24"), port: 51822,
			sourceTunnel: true},
		forwardRow(l.tag),
	}
	if o.OneP {
		gws = append(gws, &rpGateway{name: "licgate netstack, GOMAXPROCS=1", short: "l1", kind: "licgate", subnet: netip.MustParsePrefix("10.49.0.0/24"), port: 51825,
			env: []string{"GOMAXPROCS=1"}})
	}
	if o.Licgate.Baseline != "" {
		gws = append(gws, &rpGateway{name: "licgate netstack, baseline binary", short: "lb", kind: "licgate", subnet: netip.MustParsePrefix("10.50.0.0/24"), port: 51826, scale: true,
			bin: o.Licgate.Baseline})
	}
	routed := &rpGateway{name: "routed wireguard-go " + debVersion + " (Debian)", short: "rd", kind: "routed", subnet: netip.MustParsePrefix("10.47.0.0/24"), port: 51823, bin: debWG, scale: true,
		target: net.JoinHostPort(rpServer, strconv.Itoa(rpServerPort)), allowed: rpServer + "/32"}
	gws = append(gws, routed)
	if haveMod {
		gws = append(gws, &rpGateway{name: "routed wireguard-go " + modVersion + " (licgate's go.mod)", short: "rm", kind: "routed", subnet: netip.MustParsePrefix("10.48.0.0/24"), port: 51824, bin: modWG,
			target: net.JoinHostPort(rpServerMod, strconv.Itoa(rpServerPort)), allowed: rpServerMod + "/32"})
	}
	gws = append(gws, &rpGateway{name: "no tunnel (routed straight to the LAN)", short: "none", kind: "none", target: net.JoinHostPort(rpServerNone, strconv.Itoa(rpServerPort))})
	if o.Rows != "" {
		keep := strings.Split(o.Rows, ",")
		gws = slices.DeleteFunc(gws, func(g *rpGateway) bool { return g != routed && !slices.Contains(keep, g.short) })
	}

	for _, g := range gws {
		switch g.kind {
		case "licgate":
			bin := lgBin
			if g.bin != "" {
				bin = g.bin
			}
			if err := startLicgateRP(l, office, bin, g, keys, upstream, o.Licgate); err != nil {
				return fmt.Errorf("%s: %w", g.name, err)
			}
		case "routed":
			if err := startRoutedRP(l, office, g, keys); err != nil {
				return fmt.Errorf("%s: %w", g.name, err)
			}
		}
	}
	// Home profiles: one wg-quick interface per gateway for the latency
	// rows, and one per scale gateway in every scale namespace.
	for _, g := range gws {
		if g.kind == "none" {
			continue
		}
		if err := l.wgQuickUp(home, "bh"+g.short+l.tag, homeConf(keys[0], g.addrs[0], g, rpOfficeWAN)); err != nil {
			return err
		}
	}
	for _, g := range gws {
		if err := waitDial(home, g.target, 30*time.Second); err != nil {
			return fmt.Errorf("%s: no path from home: %w", g.name, err)
		}
	}
	fmt.Printf("Machine: %d CPUs (nproc), %s, kernel %s, %s; load average at start %s (the machine is shared: other jobs run alongside).\n\n", runtime.NumCPU(), benchkit.Machine(), kernel(), runtime.Version(), loadBefore)
	fmt.Printf("Command: `go run ./bench %s`\n\n", strings.Join(os.Args[1:], " "))
	if o.Licgate.MemoryLimit != "" {
		fmt.Printf("Every licgate row runs with `memory_limit: %s`.\n\n", o.Licgate.MemoryLimit)
	}

	// Rounds, alternating rows.
	res := map[*rpGateway][]rpRound{}
	roundsDone := 0
	err = inNS(home, func() error {
		for r := 0; r < o.Rounds; r++ {
			if time.Now().Add(2 * time.Minute).After(deadline) {
				fmt.Printf("(stopped after %d rounds: the section's time budget of %s is spent)\n\n", r, o.Budget)
				break
			}
			for _, g := range gws {
				rr, err := measureRP(g, o)
				if err != nil {
					return fmt.Errorf("%s, round %d: %w", g.name, r+1, err)
				}
				res[g] = append(res[g], rr)
			}
			roundsDone++
		}
		return nil
	})
	if err != nil {
		return err
	}
	printRP(gws, res, routed, o, roundsDone)

	// Scale row.
	if o.ScaleSessions > 0 && time.Now().Add(o.ScaleFor+2*time.Minute).Before(deadline) {
		if err := scaleRP(l, gws, routed, scaleNS, keys, o, deadline); err != nil {
			return err
		}
	} else if o.ScaleSessions > 0 {
		fmt.Print("(scale row skipped: the section's time budget is spent)\n\n")
	}

	if o.Profile != "" {
		if err := profileRP(home, gws[0], o); err != nil {
			fmt.Fprintf(os.Stderr, "profile: %v\n", err)
		}
	}
	fmt.Printf("Load average at the end: %s; section took %s.\n\n", loadAvg(), time.Since(sectionStart).Round(time.Second))
	return nil
}

// startLicgateRP prepares a state directory with the devices' keys and
// starts `licgate serve` in the office namespace.
func startLicgateRP(l *nsLab, office, bin string, g *rpGateway, keys []tunnel.Key, upstream string, lg benchkit.Licgate) error {
	g.dir = filepath.Join(l.dir, "lg-"+g.short)
	key, _ := tunnel.GenerateKey()
	g.pub = key.PublicKey()
	if err := os.MkdirAll(g.dir, 0o700); err != nil {
		return err
	}
	os.WriteFile(filepath.Join(g.dir, "wireguard.key"), []byte(key.String()+"\n"), 0o600)
	ctx := context.Background()
	st, err := local.Open(ctx, g.dir)
	if err != nil {
		return err
	}
	gwAddr := g.subnet.Addr().Next()
	if _, err := st.AddUser(ctx, "bench", ""); err != nil {
		st.Close()
		return err
	}
	var nds []store.NewDevice
	for i, k := range keys {
		nds = append(nds, store.NewDevice{User: "bench", Name: fmt.Sprintf("dev%02d", i), PublicKey: k.PublicKey().String()})
	}
	devs, err := st.AddDevices(ctx, nds, store.Pool{Subnet: g.subnet, Reserved: []netip.Addr{gwAddr}})
	st.Close()
	if err != nil {
		return err
	}
	for _, d := range devs {
		g.addrs = append(g.addrs, d.Address)
	}
	tun, source := g.yaml, ""
	if g.sourceTunnel {
		source = "    source: tunnel\n"
	}
	cfg := fmt.Sprintf("state_dir: %s\ntunnel:\n  listen_port: %d\n  subnet: %s\n  endpoint: %s\n%sservices:\n  - name: codemeter\n    port: 22350\n    upstream: %s\n%s%spolicy:\n  rules:\n    - {action: allow, who: [\"*\"]}\n",
		g.dir, g.port, g.subnet, rpOfficeWAN, tun, upstream, source, lg.ReconnectOff(bin))
	if lg.MemoryLimit != "" {
		cfg += "memory_limit: " + lg.MemoryLimit + "\n"
	}
	cfgPath := filepath.Join(g.dir, "licgate.yaml")
	os.WriteFile(cfgPath, []byte(cfg), 0o600)
	g.cmd, err = l.start(office, "licgate-"+g.short+".log", g.env, bin, "serve", "-c", cfgPath)
	if err != nil {
		return err
	}
	api := adminapi.NewClient(filepath.Join(g.dir, "licgate.sock"))
	for start := time.Now(); ; {
		var h adminapi.Health
		if err := api.Do(ctx, "GET", "/api/v1/health", nil, &h); err == nil && h.Devices == len(keys) {
			break
		}
		if time.Since(start) > 60*time.Second {
			log, _ := os.ReadFile(filepath.Join(l.dir, "licgate-"+g.short+".log"))
			return fmt.Errorf("licgate did not start in 60 s:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.target = net.JoinHostPort(gwAddr.String(), "22350")
	g.allowed = gwAddr.String() + "/32"
	return nil
}

// startRoutedRP starts wireguard-go on a TUN interface in the office
// namespace, with one peer per device and the kernel forwarding to the LAN:
// the gateway IT would build by hand.
func startRoutedRP(l *nsLab, office string, g *rpGateway, keys []tunnel.Key) error {
	name := "br" + g.short + l.tag
	l.wgIf(name)
	var err error
	if g.cmd, err = l.start(office, "wg-"+g.short+".log", wgEnv, g.bin, "-f", name); err != nil {
		return err
	}
	for start := time.Now(); ; {
		if err := sh("ip", "netns", "exec", office, "wg", "show", name); err == nil {
			break
		}
		if time.Since(start) > 20*time.Second {
			return fmt.Errorf("%s did not create %s", g.bin, name)
		}
		time.Sleep(20 * time.Millisecond)
	}
	key, _ := tunnel.GenerateKey()
	g.pub = key.PublicKey()
	kf := filepath.Join(l.dir, name+".key")
	os.WriteFile(kf, []byte(key.String()+"\n"), 0o600)
	args := []string{"ip", "netns", "exec", office, "wg", "set", name, "private-key", kf, "listen-port", strconv.Itoa(g.port)}
	a := g.subnet.Addr().Next()
	gwAddr := a
	for _, k := range keys {
		a = a.Next()
		g.addrs = append(g.addrs, a)
		args = append(args, "peer", k.PublicKey().String(), "allowed-ips", a.String()+"/32")
	}
	for _, c := range [][]string{
		args,
		{"ip", "-n", office, "addr", "add", netip.PrefixFrom(gwAddr, g.subnet.Bits()).String(), "dev", name},
		{"ip", "-n", office, "link", "set", name, "mtu", "1420", "up"},
	} {
		if err := sh(c...); err != nil {
			return err
		}
	}
	return nil
}

// homeConf is the wg-quick profile of a home device for gateway g.
func homeConf(key tunnel.Key, addr netip.Addr, g *rpGateway, endpoint string) string {
	return fmt.Sprintf("[Interface]\nPrivateKey = %s\nAddress = %s/32\n\n[Peer]\nPublicKey = %s\nEndpoint = %s:%d\nAllowedIPs = %s\nPersistentKeepalive = 25\n",
		key.String(), addr, g.pub.String(), endpoint, g.port, g.allowed)
}

// waitDial waits until addr accepts a connection from namespace ns.
func waitDial(ns, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var err error
		inNS(ns, func() error {
			var c net.Conn
			c, err = net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return nil
		})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cpuNS is the CPU time of every thread of pid in nanoseconds
// (/proc/<pid>/task/*/schedstat), or 0 if pid is 0.
func cpuNS(pid int) int64 {
	if pid == 0 {
		return 0
	}
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var n int64
	for _, t := range tasks {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if f := strings.Fields(string(data)); len(f) > 0 {
			x, _ := strconv.ParseInt(f[0], 10, 64)
			n += x
		}
	}
	return n
}

// measureRP measures one row once: ping-pong, setup, bulk up and down.
// It runs on a thread in the home namespace (dials must happen there).
func measureRP(g *rpGateway, o Options) (rpRound, error) {
	var rr rpRound
	pid := g.pid()
	dial := func() (net.Conn, error) { return net.DialTimeout("tcp", g.target, 10*time.Second) }
	c, err := dial()
	if err != nil {
		return rr, err
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	cpu0, cs0 := cpuNS(pid), ctxOf(pid)
	rtts, err := benchkit.PingPong(c, o.Pings)
	cpu1, cs1 := cpuNS(pid), ctxOf(pid)
	c.Close()
	if err != nil {
		return rr, fmt.Errorf("ping-pong: %w", err)
	}
	rr.p50, rr.p99 = benchkit.Percentile(rtts, 0.5), benchkit.Percentile(rtts, 0.99)
	rr.cpuRT = time.Duration((cpu1 - cpu0) / int64(len(rtts)))
	rr.ctxRT = float64(cs1-cs0) / float64(len(rtts))

	// New connection + first answer, one after another.
	req, resp := make([]byte, 65), make([]byte, 256)
	req[0] = 'P'
	setups := make([]time.Duration, 0, o.Setups)
	cpu0 = cpuNS(pid)
	stopAt := time.Now().Add(60 * time.Second)
	for i := 0; i < o.Setups && time.Now().Before(stopAt); i++ {
		start := time.Now()
		c, err := dial()
		if err != nil {
			return rr, fmt.Errorf("setup %d: %w", i, err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(req); err != nil {
			c.Close()
			return rr, fmt.Errorf("setup %d: %w", i, err)
		}
		if _, err := io.ReadFull(c, resp); err != nil {
			c.Close()
			return rr, fmt.Errorf("setup %d: %w", i, err)
		}
		setups = append(setups, time.Since(start))
		c.Close()
	}
	rr.cpuSetup = time.Duration((cpuNS(pid) - cpu0) / int64(len(setups)))
	rr.setup = benchkit.Percentile(setups, 0.5)

	if o.BulkBytes > 0 {
		c, err := dial()
		if err != nil {
			return rr, err
		}
		c.SetDeadline(time.Now().Add(120 * time.Second))
		rr.up, err = benchkit.Bulk(c, o.BulkBytes)
		c.Close()
		if err != nil {
			return rr, fmt.Errorf("bulk up: %w", err)
		}
		c, err = dial()
		if err != nil {
			return rr, err
		}
		c.SetDeadline(time.Now().Add(120 * time.Second))
		rr.down, err = bulkDown(c, o.BulkBytes)
		c.Close()
		if err != nil {
			return rr, fmt.Errorf("bulk down: %w", err)
		}
	}
	rr.ok = true
	return rr, nil
}

func ctxOf(pid int) int64 {
	if pid == 0 {
		return 0
	}
	return procCtxSwitches(pid)
}

// bulkDown asks the server for total bytes and returns MB/s (10^6 bytes).
func bulkDown(c net.Conn, total int) (float64, error) {
	var req [9]byte
	req[0] = 'D'
	binary.BigEndian.PutUint64(req[1:], uint64(total))
	start := time.Now()
	if _, err := c.Write(req[:]); err != nil {
		return 0, err
	}
	n, err := io.Copy(io.Discard, c)
	if err != nil {
		return 0, err
	}
	if n != int64(total) {
		return 0, fmt.Errorf("got %d of %d bytes", n, total)
	}
	return float64(total) / time.Since(start).Seconds() / 1e6, nil
}

func printRP(gws []*rpGateway, res map[*rpGateway][]rpRound, routed *rpGateway, o Options, rounds int) {
	fmt.Printf("%d rounds, rows alternating within each round. Per round and row: %d round trips of a 64-byte request and a 256-byte answer on one connection; %d new connections, each timed from dial to the first answer (setup); %d MiB up and %d MiB down on fresh connections. Gateway CPU is the gateway process's (all threads, /proc/<pid>/task/*/schedstat) during the round trips, divided by their number; context switches likewise (voluntary + involuntary, all threads). Work the kernel does for the routed rows outside the gateway process (forwarding in softirq context) is not counted; for the no-tunnel row there is no gateway process. Figures are medians over rounds.\n\n",
		rounds, o.Pings, o.Setups, o.BulkBytes>>20, o.BulkBytes>>20)
	fmt.Println("| path | RTT p50 | RTT p99 | setup p50 | bulk up MB/s | bulk down MB/s | gateway CPU / round trip | context switches / round trip | gateway CPU / new connection |\n|---|---|---|---|---|---|---|---|---|")
	for _, g := range gws {
		rs := res[g]
		cpu, cs, cpuS := benchkit.Micros(benchkit.MedianDur(pick(rs, func(r rpRound) time.Duration { return r.cpuRT }))), fmt.Sprintf("%.2f", medianF(rs, func(r rpRound) float64 { return r.ctxRT })), benchkit.Micros(benchkit.MedianDur(pick(rs, func(r rpRound) time.Duration { return r.cpuSetup })))
		if g.kind == "none" {
			cpu, cs, cpuS = "(kernel)", "-", "(kernel)"
		}
		fmt.Printf("| %s | %s | %s | %s | %.0f | %.0f | %s | %s | %s |\n", g.name,
			benchkit.Micros(benchkit.MedianDur(pick(rs, func(r rpRound) time.Duration { return r.p50 }))),
			benchkit.Micros(benchkit.MedianDur(pick(rs, func(r rpRound) time.Duration { return r.p99 }))),
			benchkit.Micros(benchkit.MedianDur(pick(rs, func(r rpRound) time.Duration { return r.setup }))),
			medianF(rs, func(r rpRound) float64 { return r.up }), medianF(rs, func(r rpRound) float64 { return r.down }),
			cpu, cs, cpuS)
	}
	for _, base := range gws {
		if base.kind != "routed" {
			continue
		}
		printRatios(gws, res, base)
	}
	fmt.Println()
}

// printRatios prints every row's figures over the routed row's, round by round.
func printRatios(gws []*rpGateway, res map[*rpGateway][]rpRound, routed *rpGateway) {
	fmt.Printf("\nRatios to %s, medians of per-round ratios (below 1 is better for times and CPU, above 1 better for bulk):\n\n", routed.name)
	fmt.Println("| path | RTT p50 | RTT p99 | setup p50 | bulk up | bulk down | CPU / round trip | CPU / new connection |\n|---|---|---|---|---|---|---|---|")
	base := res[routed]
	for _, g := range gws {
		if g == routed {
			continue
		}
		rs := res[g]
		r := func(f func(rpRound) float64) string { return fmt.Sprintf("%.2fx", roundRatio(rs, base, f)) }
		d := func(f func(rpRound) time.Duration) func(rpRound) float64 {
			return func(x rpRound) float64 { return float64(f(x)) }
		}
		cpu, cpuS := r(d(func(x rpRound) time.Duration { return x.cpuRT })), r(d(func(x rpRound) time.Duration { return x.cpuSetup }))
		if g.kind == "none" {
			cpu, cpuS = "-", "-"
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", g.name,
			r(d(func(x rpRound) time.Duration { return x.p50 })), r(d(func(x rpRound) time.Duration { return x.p99 })),
			r(d(func(x rpRound) time.Duration { return x.setup })),
			r(func(x rpRound) float64 { return x.up }), r(func(x rpRound) float64 { return x.down }), cpu, cpuS)
	}
}

func pick(rs []rpRound, f func(rpRound) time.Duration) []time.Duration {
	var out []time.Duration
	for _, r := range rs {
		out = append(out, f(r))
	}
	return out
}

func medianF(rs []rpRound, f func(rpRound) float64) float64 {
	var out []float64
	for _, r := range rs {
		out = append(out, f(r))
	}
	return benchkit.Median(out)
}

// roundRatio is the median over rounds of f(a) / f(b) in the same round.
func roundRatio(a, b []rpRound, f func(rpRound) float64) float64 {
	var rs []float64
	for i := range min(len(a), len(b)) {
		if f(b[i]) > 0 {
			rs = append(rs, f(a[i])/f(b[i]))
		}
	}
	return benchkit.Median(rs)
}

// scaleRP opens o.ScaleSessions sessions from o.ScaleDevices home devices
// (one namespace each, with a wg-quick profile per gateway), and sends a
// heartbeat on each every o.ScaleEvery for o.ScaleFor, gateway after
// gateway, o.ScalePasses times.
func scaleRP(l *nsLab, gws []*rpGateway, routed *rpGateway, scaleNS []string, keys []tunnel.Key, o Options, deadline time.Time) error {
	var targets []*rpGateway
	for _, g := range gws {
		if g.scale {
			targets = append(targets, g)
		}
	}
	for _, g := range targets {
		for i, ns := range scaleNS {
			endpoint := fmt.Sprintf("10.97.%d.1", i)
			if err := l.wgQuickUp(ns, fmt.Sprintf("bs%s%d%s", g.short, i, l.tag), homeConf(keys[i+1], g.addrs[i+1], g, endpoint)); err != nil {
				return err
			}
		}
	}
	for _, g := range targets {
		for _, ns := range scaleNS {
			if err := waitDial(ns, g.target, 30*time.Second); err != nil {
				return fmt.Errorf("scale: %s: %w", g.name, err)
			}
		}
	}
	fmt.Printf("### Scale: %d idle sessions from %d home devices (a wg-quick profile each), a heartbeat (a line echoed by the license server) on every session every %s for %s\n\n", o.ScaleSessions, o.ScaleDevices, o.ScaleEvery, o.ScaleFor)
	fmt.Println("| pass | path | heartbeats (failed) | heartbeat p50 | heartbeat p99 | gateway CPU (% of one core) | gateway resident memory | load average |\n|---|---|---|---|---|---|---|---|")
	type sres struct {
		p99 time.Duration
		cpu float64
		rss int64
	}
	all := map[*rpGateway][]sres{}
	for pass := 0; pass < o.ScalePasses; pass++ {
		for _, g := range targets {
			if time.Now().Add(o.ScaleFor + time.Minute).After(deadline) {
				fmt.Print("\n(stopped: the section's time budget is spent)\n")
				break
			}
			n, failed, p50, p99, cpu, rss, base, err := scaleOnce(g, scaleNS, o)
			if err != nil {
				return fmt.Errorf("scale, %s: %w", g.name, err)
			}
			all[g] = append(all[g], sres{p99, cpu, rss})
			fmt.Printf("| %d | %s | %d (%d) | %s | %s | %.1f %% | %.1f MB (%.1f MB before the sessions) | %s |\n", pass+1, g.name, n, failed, benchkit.Micros(p50), benchkit.Micros(p99), cpu, float64(rss)/1024, float64(base)/1024, loadAvg())
		}
	}
	fmt.Printf("\nRatios to %s (per pass, then median):\n\n", routed.name)
	for _, g := range targets {
		if g == routed {
			continue
		}
		var p, c, m []float64
		for i := range min(len(all[g]), len(all[routed])) {
			a, b := all[g][i], all[routed][i]
			p = append(p, float64(a.p99)/float64(b.p99))
			c = append(c, a.cpu/b.cpu)
			m = append(m, float64(a.rss)/float64(b.rss))
		}
		fmt.Printf("- %s: heartbeat p99 %.2fx, gateway CPU %.2fx, resident memory %.2fx\n", g.name, benchkit.Median(p), benchkit.Median(c), benchkit.Median(m))
	}
	fmt.Println()
	return nil
}

func scaleOnce(g *rpGateway, scaleNS []string, o Options) (n int, failed int64, p50, p99 time.Duration, cpuPct float64, rss, baseRSS int64, err error) {
	per := o.ScaleSessions / len(scaleNS)
	baseRSS = benchkit.RSSKB(g.pid())
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	openBy := time.Now().Add(2 * time.Minute)
	for _, ns := range scaleNS {
		err = inNS(ns, func() error {
			for i := 0; i < per; i++ {
				if time.Now().After(openBy) {
					return errors.New("opening sessions took over 2 minutes")
				}
				c, err := net.DialTimeout("tcp", g.target, 10*time.Second)
				if err != nil {
					return err
				}
				conns = append(conns, c)
				if _, err := c.Write([]byte("H")); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return
		}
	}
	time.Sleep(time.Second) // let the opening settle before measuring
	pid := g.pid()
	var mu sync.Mutex
	var lat []time.Duration
	var fails atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	cpu0 := cpuNS(pid)
	start := time.Now()
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64)
			line := []byte(fmt.Sprintf("PING %06d\n", i))
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(i) * o.ScaleEvery / time.Duration(len(conns))):
			}
			t := time.NewTicker(o.ScaleEvery)
			defer t.Stop()
			for {
				s := time.Now()
				c.SetDeadline(s.Add(10 * time.Second))
				if _, err := c.Write(line); err != nil {
					fails.Add(1)
					return
				}
				if _, err := io.ReadFull(c, buf[:len(line)]); err != nil {
					fails.Add(1)
					return
				}
				d := time.Since(s)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
	}
	time.Sleep(o.ScaleFor)
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	if pid != 0 {
		cpuPct = float64(cpuNS(pid)-cpu0) / float64(elapsed) * 100
		rss = benchkit.RSSKB(pid)
	}
	if o.Profile != "" && g.kind == "licgate" {
		fetchPprof(filepath.Join(g.dir, "licgate.sock"), "heap", o.Profile+"-heap-"+g.short+".pb.gz")
	}
	return len(lat), fails.Load(), benchkit.Percentile(lat, 0.5), benchkit.Percentile(lat, 0.99), cpuPct, rss, baseRSS, nil
}

// profileRP takes two 10-second CPU profiles of licgate (gateway g) from
// its admin socket: one under ping-pong load, one under new connections.
func profileRP(home string, g *rpGateway, o Options) error {
	sock := filepath.Join(g.dir, "licgate.sock")
	for _, kind := range []string{"rtt", "setup"} {
		path := o.Profile + "-" + kind + ".pb.gz"
		done := make(chan error, 1)
		go func() { done <- fetchPprof(sock, "profile?seconds=10", path) }()
		stopAt := time.Now().Add(11 * time.Second)
		err := inNS(home, func() error {
			req, resp := make([]byte, 65), make([]byte, 256)
			req[0] = 'P'
			for time.Now().Before(stopAt) {
				c, err := net.DialTimeout("tcp", g.target, 10*time.Second)
				if err != nil {
					return err
				}
				c.SetDeadline(time.Now().Add(20 * time.Second))
				if kind == "rtt" {
					_, err = benchkit.PingPong(c, 500)
				} else {
					if _, err = c.Write(req); err == nil {
						_, err = io.ReadFull(c, resp)
					}
				}
				c.Close()
				if err != nil {
					return err
				}
			}
			return nil
		})
		if perr := <-done; perr != nil {
			return perr
		}
		if err != nil {
			return err
		}
		fmt.Printf("CPU profile of %s under %s load: %s (`go tool pprof -top %s`)\n\n", g.name, kind, path, path)
	}
	return nil
}

// wgModuleVersion is the golang.zx2c4.com/wireguard version in licgate's go.mod.
func wgModuleVersion() string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "golang.zx2c4.com/wireguard").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

func wgBinVersion(bin string) string {
	out, _ := exec.Command(bin, "--version").Output()
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "v0.") {
			return f
		}
	}
	return "?"
}

// LANServer is the license server stand-in's role: serve on
// LICGATE_BENCH_LISTEN in whatever namespace it was started.
func LANServer() {
	ln, err := net.Listen("tcp", os.Getenv("LICGATE_BENCH_LISTEN"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	benchkit.Serve(ln)
}

// fetchPprof saves /debug/pprof/<name> from licgate's admin socket to path.
func fetchPprof(sock, name, path string) error {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Get("http://licgate/debug/pprof/" + name)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
