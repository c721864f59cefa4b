package clustertest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/cluster"
	"github.com/licgate/licgate/internal/netnstest"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/postgres"
	"github.com/licgate/licgate/store/postgres/pgtest"
	"github.com/licgate/licgate/tunnel"
)

// The failover test's stand-in gateway: the parts of licgate that HA
// concerns (PostgreSQL store, cluster admission with a lease, the
// shared WireGuard key, a netstack WireGuard device with the store's
// peers) serving a toy license protocol on 10.44.0.1:22350: the client
// gets "SEAT <gateway>" when admitted (cap 2 seats cluster-wide) and
// "PONG <gateway>" for each "PING". It runs as a child process of the
// test binary inside a gateway namespace, so it can be killed like a box.
// (The lead's gateway integration replaces it with licgate itself.)

const (
	helperEnv   = "LICGATE_FAILOVER_HELPER"
	failoverCap = 2
)

var (
	tunnelAddr = netip.MustParseAddr("10.44.0.1")
	tunnelPool = store.Pool{Subnet: netip.MustParsePrefix("10.44.0.0/24"), Reserved: []netip.Addr{tunnelAddr}}
)

// TestFailoverHelperGateway is not a test: it is the gateway process.
func TestFailoverHelperGateway(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("the failover test's gateway process; runs only as its child")
	}
	if err := runGateway(os.Getenv("FO_DSN"), os.Getenv("FO_ID"), os.Getenv("FO_KEK"), os.Getenv("FO_READY")); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func runGateway(dsn, id, kek, ready string) error {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With(slog.String("gw", id))
	st, err := postgres.Open(ctx, dsn, log)
	if err != nil {
		return err
	}
	c, err := cluster.New(cluster.Config{Pool: st.Pool(), GatewayID: id, Lease: 10 * time.Second, Logger: log})
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	key, err := c.SharedKey(ctx, kek)
	if err != nil {
		return err
	}
	dev, err := tunnel.NewNetstack(tunnel.Config{PrivateKey: key, ListenPort: 51820, Addresses: []netip.Addr{tunnelAddr}}, log)
	if err != nil {
		return err
	}
	devices, err := st.Devices(ctx, false)
	if err != nil {
		return err
	}
	byAddr := map[netip.Addr]store.Device{}
	for _, d := range devices {
		pub, err := tunnel.ParseKey(d.PublicKey)
		if err != nil {
			return err
		}
		if err := dev.AddPeer(tunnel.Peer{PublicKey: pub, AllowedIPs: []netip.Prefix{netip.PrefixFrom(d.Address, d.Address.BitLen())}}); err != nil {
			return err
		}
		byAddr[d.Address] = d
	}
	ln, err := dev.ListenTCP(netip.AddrPortFrom(tunnelAddr, 22350))
	if err != nil {
		return err
	}
	if err := os.WriteFile(ready+".tmp", []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return err
	}
	if err := os.Rename(ready+".tmp", ready); err != nil {
		return err
	}
	log.Info("gateway ready", slog.String("public_key", key.PublicKey().String()))
	if os.Getenv("FO_NUDGE") != "" {
		go takeover(ctx, c, dev, log)
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		go serveSeat(ctx, c, conn, byAddr, log)
	}
}

// takeover is the part of the gateway that shortens a failover: while
// it holds the VIP it records where its peers are; when it gains the
// VIP (and its answers leave from it: the notify script ran) it starts
// the handshake with every peer seen recently, instead of waiting for
// the devices' 15 s timer.
func takeover(ctx context.Context, c *cluster.Cluster, dev *tunnel.Device, log *slog.Logger) {
	held := false
	for tick := 0; ; tick++ {
		time.Sleep(100 * time.Millisecond)
		out, _ := exec.Command("ip", "-4", "route", "show", "default").Output()
		now := strings.Contains(string(out), "src "+VIP.String())
		switch {
		case now && !held:
			eps, err := c.Endpoints(ctx, 5*time.Minute)
			if err != nil {
				log.Warn("takeover: endpoints", slog.Any("err", err))
				continue
			}
			peers, _ := dev.Peers()
			for _, p := range peers {
				ep, ok := eps[p.PublicKey.String()]
				if !ok {
					continue
				}
				err := dev.AddPeer(tunnel.Peer{PublicKey: p.PublicKey, AllowedIPs: p.AllowedIPs, Endpoint: ep, PersistentKeepalive: 25 * time.Second})
				log.Info("takeover: handshake towards peer", slog.String("endpoint", ep.String()), slog.Any("err", err))
			}
		case now && tick%10 == 0:
			peers, _ := dev.Peers()
			eps := map[string]netip.AddrPort{}
			for _, p := range peers {
				if p.Endpoint.IsValid() && time.Since(p.LastHandshake) < 3*time.Minute {
					eps[p.PublicKey.String()] = p.Endpoint
				}
			}
			if err := c.RecordEndpoints(ctx, eps); err != nil {
				log.Warn("record endpoints", slog.Any("err", err))
			}
		}
		held = now
	}
}

func serveSeat(ctx context.Context, c *cluster.Cluster, conn net.Conn, byAddr map[netip.Addr]store.Device, log *slog.Logger) {
	defer conn.Close()
	ap, _ := netip.ParseAddrPort(conn.RemoteAddr().String())
	d, ok := byAddr[ap.Addr()]
	if !ok {
		return
	}
	s, err := c.Admit(ctx, cluster.Session{User: d.User, Device: d.Name, Service: "codemeter"}, func(n acl.Counts) (cluster.Decision, error) {
		if n.ServiceSessions("codemeter") >= failoverCap {
			return cluster.Decision{}, errors.New("all seats taken")
		}
		return cluster.Decision{Rule: 0}, nil
	})
	if err != nil {
		fmt.Fprintf(conn, "FULL %v\n", err)
		return
	}
	defer c.Release(context.Background(), s.ID)
	log.Info("seat", slog.String("user", d.User), slog.Int64("session", s.ID))
	fmt.Fprintf(conn, "SEAT %s\n", c.ID())
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if strings.TrimSpace(line) == "PING" {
			fmt.Fprintf(conn, "PONG %s\n", c.ID())
		}
	}
}

var wgEnv = []string{"WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go", "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1"}

// failover is the running setup of TestFailover.
type failover struct {
	t     *testing.T
	p     *VRRPPair
	dir   string
	dsn   string
	kek   string
	gw    [2]*os.Process
	home  *netnstest.NS
	nudge bool // gateways start the handshake on takeover
}

func (f *failover) ready(i int) string {
	return filepath.Join(f.dir, fmt.Sprintf("gw-%d.pid", i))
}

// startGateway runs the stand-in gateway i in its namespace and waits
// until it serves.
func (f *failover) startGateway(i int) {
	f.t.Helper()
	os.Remove(f.ready(i))
	logf, err := os.Create(filepath.Join(f.dir, fmt.Sprintf("gw-%d.log", i)))
	if err != nil {
		f.t.Fatal(err)
	}
	defer logf.Close()
	cmd := f.p.GW[i].Cmd(os.Args[0], "-test.run=^TestFailoverHelperGateway$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "FO_DSN="+f.dsn, "FO_ID=gw-"+[]string{"a", "b"}[i], "FO_KEK="+f.kek, "FO_READY="+f.ready(i))
	if f.nudge {
		cmd.Env = append(cmd.Env, "FO_NUDGE=1")
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.gw[i] = cmd.Process
	go cmd.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(f.ready(i)); err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			f.t.Fatalf("gateway %d not ready:\n%s", i, log)
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
	gw   string
}

// connect dials the gateway through the tunnel and waits for a seat.
func (c *client) connect(timeout time.Duration) error {
	var conn net.Conn
	var err error
	c.f.home.Do(func() { conn, err = net.DialTimeout("tcp", netip.AddrPortFrom(tunnelAddr, 22350).String(), timeout) })
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Now().Add(timeout))
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "SEAT ") {
		conn.Close()
		return fmt.Errorf("no seat: %q %v", line, err)
	}
	conn.SetDeadline(time.Time{})
	c.conn, c.r, c.gw = conn, r, strings.TrimSpace(strings.TrimPrefix(line, "SEAT "))
	return nil
}

// ping checks the held seat answers within timeout.
func (c *client) ping(timeout time.Duration) error {
	c.conn.SetDeadline(time.Now().Add(timeout))
	defer c.conn.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(c.conn, "PING\n"); err != nil {
		return err
	}
	line, err := c.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "PONG ") {
		return fmt.Errorf("ping: %q %v", line, err)
	}
	return nil
}

// TestFailover: PostgreSQL, two stand-in gateways sharing it and one
// WireGuard key, keepalived on both with the example configs, and a
// wg-quick home device whose endpoint is the VIP. Each run kills the
// box holding the VIP and measures until the home device's license
// client holds a seat on the other gateway; the dead gateway's seat
// stops counting after the lease; then the dead box boots again as the
// standby. LICGATE_FAILOVER_RUNS sets the number of runs (default 2).
//
// Plain: the gateway does nothing special; the device re-handshakes
// when its own timer fires (15 s after its first unanswered packet).
// Takeover: the new VIP holder starts the handshake itself.
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
	srv := pgtest.Start(t) // unix socket: reachable from every namespace
	f := &failover{t: t, dsn: srv.NewDatabase(t), dir: t.TempDir(), nudge: nudge}
	ctx := context.Background()
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
	dev, err := st.AddDevice(ctx, store.NewDevice{User: "alice", Name: "laptop", PublicKey: homeKey.PublicKey().String()}, tunnelPool)
	if err != nil {
		t.Fatal(err)
	}
	f.kek = filepath.Join(f.dir, "cluster.kek")
	if err := cluster.WriteKEK(f.kek); err != nil {
		t.Fatal(err)
	}
	obs, err := cluster.New(cluster.Config{Pool: st.Pool(), GatewayID: "observer"})
	if err != nil {
		t.Fatal(err)
	}
	shared, err := obs.SharedKey(ctx, f.kek) // what both gateways will use
	if err != nil {
		t.Fatal(err)
	}
	f.p = NewVRRP(t, VRRPOptions{Check: func(i int) string { return "kill -0 $(cat " + f.ready(i) + ")" }})
	f.home = f.p.Home
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
				eps, err := obs.Endpoints(ctx, 2*time.Second)
				return err == nil && eps[homeKey.PublicKey().String()].IsValid()
			})
		}
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
