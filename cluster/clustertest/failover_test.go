//go:build !licgate_omit_postgres

package clustertest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licgate/licgate/cluster"
	"github.com/licgate/licgate/internal/licsim"
	"github.com/licgate/licgate/internal/netnstest"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/postgres"
	"github.com/licgate/licgate/store/postgres/pgtest"
	"github.com/licgate/licgate/tunnel"
)

// The failover test runs licgate itself: the binary is built once per
// test process and started as `licgate serve -c FILE` inside each
// gateway namespace (so it can be killed like a box), with the cluster
// config docs/ha.md describes; keepalived's health check is `licgate
// doctor --quiet`. The license server is licsim on the office LAN (in
// the router's namespace); the policy caps codemeter at 2 sessions
// cluster-wide.

const failoverLease = 10 * time.Second

var tunnelAddr = netip.MustParseAddr("10.44.0.1")

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// licgateBinary builds cmd/licgate once.
func licgateBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "licgate-failover-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "licgate")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/licgate")
		cmd.Dir = RepoDir()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/licgate: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// gatewayConfig is licgate's config for gateway i (ha.md's, with the
// test's addresses).
func (f *failover) gatewayConfig(i int) string {
	id := []string{"gw-a", "gw-b"}[i]
	vip := ""
	if f.nudge {
		vip = "  vip: " + VIP.String() + "\n"
	}
	return fmt.Sprintf(`state_dir: %[1]s/%[2]s
socket: %[1]s/%[2]s.sock
tunnel:
  mode: netstack
  listen_port: 51820
  subnet: 10.44.0.0/24
  address: 10.44.0.1
  endpoint: %[3]s
services:
  - name: codemeter
    port: 22350
    upstream: %[4]s
store:
  driver: postgres
  dsn_file: %[1]s/dsn
cluster:
  enabled: true
  gateway_id: %[2]s
  kek_file: %[1]s/cluster.kek
  lease: %[5]s
%[6]spolicy:
  services:
    codemeter: {max_sessions: 2}
  rules:
    - {action: allow, who: ["*"]}
`, f.dir, id, VIP, f.upstream, failoverLease, vip)
}

func (f *failover) cfgPath(i int) string {
	return filepath.Join(f.dir, fmt.Sprintf("licgate-%d.yaml", i))
}

func (f *failover) logPath(i int) string {
	return filepath.Join(f.dir, fmt.Sprintf("gw-%d.log", i))
}

var wgEnv = []string{"WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go", "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1"}

// failover is the running setup of TestFailover.
type failover struct {
	t        *testing.T
	p        *VRRPPair
	bin      string
	dir      string
	dsn      string
	upstream string
	obs      *cluster.Cluster
	gw       [2]*os.Process
	home     *netnstest.NS
	nudge    bool // cluster.vip set: the gateway starts the handshake on takeover
}

// startGateway runs licgate i in its namespace and waits until it serves.
func (f *failover) startGateway(i int) {
	f.t.Helper()
	logf, err := os.OpenFile(f.logPath(i), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		f.t.Fatal(err)
	}
	defer logf.Close()
	off, _ := logf.Seek(0, io.SeekEnd)
	cmd := f.p.GW[i].Cmd(f.bin, "serve", "-c", f.cfgPath(i))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.gw[i] = cmd.Process
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(f.logPath(i))
		if int64(len(b)) > off && strings.Contains(string(b[off:]), "licgate started") {
			return
		}
		select {
		case err := <-exited:
			f.t.Fatalf("licgate %d exited: %v\n%s", i, err, b)
		default:
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("licgate %d not ready:\n%s", i, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killBox kills gateway i like a box losing power: the gateway process
// and keepalived die at once and its LAN link goes down.
func (f *failover) killBox(i int) {
	f.t.Helper()
	if f.gw[i] != nil {
		f.gw[i].Kill()
		f.gw[i] = nil
	}
	f.p.Kill(i)
	f.p.GW[i].Run("ip", "link", "set", "eth0", "down")
}

// bootBox brings gateway i back: link up (without the stale VIP), the
// gateway, then keepalived (which stays backup: nopreempt).
func (f *failover) bootBox(i int) {
	f.t.Helper()
	f.p.GW[i].TryRun(nil, "ip", "addr", "del", VIP.String()+"/24", "dev", "eth0")
	f.p.GW[i].Run("ip", "link", "set", "eth0", "up")
	f.startGateway(i)
	f.p.Start(f.t, i)
}

// client is the home device's license client: one connection holding a seat.
type client struct {
	f    *failover
	conn net.Conn
	r    *bufio.Reader
	gw   string // the gateway whose cluster session holds the seat
}

// connect dials the license service through the tunnel and waits for a
// seat; the gateway that admitted it is read from the cluster's sessions.
func (c *client) connect(timeout time.Duration) error {
	var conn net.Conn
	var err error
	c.f.home.Do(func() { conn, err = net.DialTimeout("tcp", netip.AddrPortFrom(tunnelAddr, 22350).String(), timeout) })
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Now().Add(timeout))
	r := bufio.NewReader(conn)
	line, err := "", error(nil)
	if _, err = fmt.Fprintf(conn, "HELLO alice/laptop\n"); err == nil {
		line, err = r.ReadString('\n')
	}
	if err != nil || !strings.HasPrefix(line, "OK ") {
		conn.Close()
		return fmt.Errorf("no seat: %q %v", line, err)
	}
	conn.SetDeadline(time.Time{})
	ss, err := c.f.obs.Sessions(context.Background())
	if err != nil || len(ss) == 0 {
		conn.Close()
		return fmt.Errorf("seat without a cluster session: %+v %v", ss, err)
	}
	c.conn, c.r, c.gw = conn, r, ss[len(ss)-1].Gateway
	return nil
}

// ping checks the held seat answers within timeout.
func (c *client) ping(timeout time.Duration) error {
	c.conn.SetDeadline(time.Now().Add(timeout))
	defer c.conn.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(c.conn, "PING x\n"); err != nil {
		return err
	}
	line, err := c.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "PONG ") {
		return fmt.Errorf("ping: %q %v", line, err)
	}
	return nil
}

// TestFailover: PostgreSQL, two licgate gateways sharing it and one
// WireGuard key (cluster mode), keepalived on both with the example
// configs and `licgate doctor --quiet` as the health check, and a
// wg-quick home device whose endpoint is the VIP. Each run kills the box
// holding the VIP and measures until the home device's license client
// holds a seat on the other gateway; the dead gateway's seat stops
// counting after the lease; then the dead box boots again as the
// standby. At the end the device is unchanged and every seat is in the
// audit log. LICGATE_FAILOVER_RUNS sets the number of runs (default 2).
//
// Plain: without cluster.vip the device re-handshakes when its own timer
// fires (15 s after its first unanswered packet). Takeover: with
// cluster.vip the new VIP holder starts the handshake itself.
func TestFailover(t *testing.T) {
	t.Run("Plain", func(t *testing.T) { testFailover(t, false) })
	t.Run("Takeover", func(t *testing.T) { testFailover(t, true) })
}

func testFailover(t *testing.T, nudge bool) {
	netnstest.Require(t, "keepalived", "wg", "wg-quick", "wireguard-go")
	runs := 2
	if n, err := strconv.Atoi(os.Getenv("LICGATE_FAILOVER_RUNS")); err == nil && n > 0 {
		runs = n
	}
	bin := licgateBinary(t)
	srv := pgtest.Start(t) // unix socket: reachable from every namespace
	// A short directory: licgate's admin socket lives in it.
	dir, err := os.MkdirTemp("", "lgfo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &failover{t: t, bin: bin, dsn: srv.NewDatabase(t), dir: dir, nudge: nudge}
	ctx := context.Background()
	if err := os.WriteFile(filepath.Join(dir, "dsn"), []byte(f.dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := postgres.Open(ctx, f.dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	homeKey, err := tunnel.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddUser(ctx, "alice", ""); err != nil {
		t.Fatal(err)
	}
	pool := store.Pool{Subnet: netip.MustParsePrefix("10.44.0.0/24"), Reserved: []netip.Addr{tunnelAddr}}
	dev, err := st.AddDevice(ctx, store.NewDevice{User: "alice", Name: "laptop", PublicKey: homeKey.PublicKey().String()}, pool)
	if err != nil {
		t.Fatal(err)
	}
	kek := filepath.Join(dir, "cluster.kek")
	if err := cluster.WriteKEK(kek); err != nil {
		t.Fatal(err)
	}
	obs, err := cluster.New(cluster.Config{Pool: st.Pool(), GatewayID: "observer"})
	if err != nil {
		t.Fatal(err)
	}
	f.obs = obs
	shared, err := obs.SharedKey(ctx, kek) // what both gateways will use
	if err != nil {
		t.Fatal(err)
	}
	f.p = NewVRRP(t, VRRPOptions{Check: func(i int) string { return bin + " doctor --quiet -c " + f.cfgPath(i) }})
	f.home = f.p.Home
	// The license server on the office LAN.
	lic := &licsim.Server{Seats: 50, Name: "office"}
	f.p.Router.Do(func() { err = lic.Listen(netip.AddrPortFrom(RouterLAN, 22350).String()) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lic.Close() })
	f.upstream = lic.Addr().String()
	for i := range 2 {
		if err := os.WriteFile(f.cfgPath(i), []byte(f.gatewayConfig(i)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for i := range f.gw {
			if f.gw[i] != nil {
				f.gw[i].Kill()
			}
		}
	})
	f.startGateway(0)
	f.startGateway(1)
	f.p.StartKeepalived(t)
	waitFor(t, "A's answers leave from the VIP", func() bool { return f.p.SourceIsVIP(0) })

	// The home device: Debian's wg-quick with wireguard-go, endpoint the VIP.
	name := fmt.Sprintf("pgfo%d", os.Getpid()%100000)
	if nudge {
		name = fmt.Sprintf("pgft%d", os.Getpid()%100000)
	}
	conf := filepath.Join(f.dir, name+".conf")
	profile := fmt.Sprintf("[Interface]\nPrivateKey = %s\nAddress = %s/32\n\n[Peer]\nPublicKey = %s\nEndpoint = %s:51820\nAllowedIPs = %s/32\nPersistentKeepalive = 25\n",
		homeKey, dev.Address, shared.PublicKey(), VIP, tunnelAddr)
	if err := os.WriteFile(conf, []byte(profile), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := f.home.TryRun(wgEnv, "wg-quick", "up", conf); err != nil {
		t.Fatalf("wg-quick up: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		f.home.TryRun(wgEnv, "wg-quick", "down", conf)
		os.Remove("/var/run/wireguard/" + name + ".sock")
	})

	c := &client{f: f}
	if err := c.connect(15 * time.Second); err != nil {
		t.Fatalf("first seat: %v", err)
	}
	if c.gw != "gw-a" {
		t.Fatalf("first seat on %s, want gw-a (the VIP holder)", c.gw)
	}
	out, _ := f.home.TryRun(nil, "wg", "show", name, "endpoints")
	t.Logf("home endpoint after the first seat: %s", out)
	var gaps, frees []time.Duration
	active := 0
	for run := 1; run <= runs; run++ {
		if err := c.ping(5 * time.Second); err != nil {
			t.Fatalf("run %d: seat on %s not answering before the kill: %v", run, c.gw, err)
		}
		if nudge {
			// The active gateway has recorded where the device is (it
			// does so every second; a device that connected in the last
			// second before a crash waits for its own timer).
			waitFor(t, "the device's endpoint recorded", func() bool {
				eps, err := obs.Endpoints(ctx, 5*time.Second)
				return err == nil && eps[homeKey.PublicKey().String()].IsValid()
			})
		}
		// The seat is in the shared audit log before the box dies (the
		// audit writer batches for up to 100 ms: a crash loses that much).
		f.waitAudit(st, run)
		f.killBox(active)
		killed := time.Now()
		want := []string{"gw-b", "gw-a"}[active]
		// The license client notices (an unanswered ping) and reconnects
		// until it has a seat again.
		deadline := killed.Add(45 * time.Second)
		for c.ping(time.Second) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("run %d: the dead gateway still answers", run)
			}
			time.Sleep(200 * time.Millisecond)
		}
		c.conn.Close()
		for {
			err := c.connect(2 * time.Second)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				f.diagnose()
				t.Fatalf("run %d: no seat %v after the kill: %v", run, time.Since(killed), err)
			}
		}
		gap := time.Since(killed)
		if c.gw != want {
			t.Fatalf("run %d: seat on %s, want %s", run, c.gw, want)
		}
		// The dead gateway's seat still counts, until its lease runs out.
		waitSessions(t, obs, 1, 30*time.Second)
		t.Logf("run %d: kill %s -> seat on %s after %v; dead gateway's seat freed %v after the kill",
			run, []string{"gw-a", "gw-b"}[active], c.gw, gap.Round(10*time.Millisecond), (time.Since(killed)).Round(100*time.Millisecond))
		if nudge && gap > 10*time.Second {
			t.Errorf("run %d: %v from kill to a new seat, goal under 10 s", run, gap)
		}
		gaps = append(gaps, gap)
		frees = append(frees, time.Since(killed))
		f.bootBox(active)
		active = 1 - active
	}
	sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
	t.Logf("failover kill -> new seat over %d runs: min %v, median %v, max %v", len(gaps), gaps[0].Round(10*time.Millisecond),
		gaps[len(gaps)/2].Round(10*time.Millisecond), gaps[len(gaps)-1].Round(10*time.Millisecond))
	// Nothing lost: the device and user are as they were.
	if d, err := st.Device(ctx, "alice", "laptop"); err != nil || d.Address != dev.Address {
		t.Fatalf("device after failovers: %+v %v", d, err)
	}
	// Every seat is in the shared audit log (the first and one per run),
	// also those held on a gateway that was killed.
	rows, seats, open := f.waitAudit(st, runs+1)
	t.Logf("audit: %d tcp sessions recorded, %d open", seats, open)
	if seats < runs+1 {
		f.diagnose()
		t.Errorf("audit: %d tcp sessions recorded, want at least %d (one per seat): %+v", seats, runs+1, rows)
	}
	// Open: only the live seat; a killed gateway closed those it left
	// open when it started again.
	if open != 1 {
		t.Errorf("audit: %d sessions open, want 1 (the live one; the killed gateways' closed at their restart)", open)
	}
}

// waitAudit waits (up to 5 s) until the audit log has at least n of
// alice's TCP sessions, and returns them with the count and how many are
// open.
func (f *failover) waitAudit(st *postgres.Store, n int) (rows []store.AuditSession, seats, open int) {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		all, err := st.AuditSessions(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		if err != nil {
			f.t.Fatal(err)
		}
		rows, seats, open = nil, 0, 0
		for _, r := range all {
			if r.User == "alice" && r.Proto == "tcp" {
				rows = append(rows, r)
				seats++
				if r.End == nil {
					open++
				}
			}
		}
		if seats >= n || time.Now().After(deadline) {
			return rows, seats, open
		}
		time.Sleep(50 * time.Millisecond) // the audit writer flushes every 100 ms
	}
}

// diagnose logs the state of the VIP, the home device's WireGuard and
// the gateways' logs.
func (f *failover) diagnose() {
	t := f.t
	t.Logf("VIP on a: %v, on b: %v", f.p.Holds(0), f.p.Holds(1))
	out, _ := f.home.TryRun(nil, "wg", "show")
	t.Logf("home wg show:\n%s", out)
	out, _ = f.home.TryRun(nil, "ip", "neigh")
	t.Logf("home neighbours:\n%s", out)
	for i := range f.gw {
		log, _ := os.ReadFile(filepath.Join(f.dir, fmt.Sprintf("gw-%d.log", i)))
		t.Logf("gateway %d log:\n%s", i, log)
		t.Logf("keepalived %d:\n%s", i, f.p.Log(i))
	}
}

// waitSessions waits until the cluster counts n sessions.
func waitSessions(t *testing.T, c *cluster.Cluster, n int, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ss, err := c.Sessions(context.Background())
		if err == nil && len(ss) == n {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("%d sessions after %v, want %d: %+v %v", len(ss), timeout, n, ss, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
