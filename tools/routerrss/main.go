// Command routerrss measures the resident memory of a licgate binary (the
// router build, issue 19) as a router would run it: `licgate licsim` as
// the license server, `licgate serve` in netstack mode with N devices in
// its store, first idle, then with one licsim session from each device
// through an in-process WireGuard client. It prints VmRSS of the serve
// process (from /proc/PID/status) at each step. Linux only.
//
// Typical usage:
//
//	go build -tags licgate_omit_acme,licgate_omit_console,licgate_omit_metrics,nethttpomithttp2 \
//		-trimpath -ldflags '-s -w' -o /tmp/licgate-router ./cmd/licgate
//	go run ./tools/routerrss -bin /tmp/licgate-router -sessions 100
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/local"
	"github.com/licgate/licgate/tunnel"
)

var memoryLimit string

func main() {
	bin := flag.String("bin", "", "licgate binary to measure (required)")
	sessions := flag.Int("sessions", 100, "sessions to open, one per device")
	settle := flag.Duration("settle", 5*time.Second, "wait this long before each reading")
	keep := flag.Bool("keep", false, "keep the temporary state directory")
	flag.StringVar(&memoryLimit, "memory-limit", "", "run licgate with this memory_limit (e.g. 48MiB)")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "routerrss: -bin is required")
		os.Exit(2)
	}
	if err := run(*bin, *sessions, *settle, *keep); err != nil {
		fmt.Fprintf(os.Stderr, "routerrss: %v\n", err)
		os.Exit(1)
	}
}

// rss is a reading of /proc/PID/status, in kB: VmRSS and its anonymous
// (heap, stacks) and file-backed (the binary's pages) parts.
type rss struct{ total, anon, file int64 }

func (r rss) String() string {
	return fmt.Sprintf("%.1f MB (anon %.1f, file %.1f)", float64(r.total)/1024, float64(r.anon)/1024, float64(r.file)/1024)
}

func readRSS(pid int) (rss, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return rss{}, err
	}
	var r rss
	for _, l := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		switch k {
		case "VmRSS":
			r.total = n
		case "RssAnon":
			r.anon = n
		case "RssFile":
			r.file = n
		}
	}
	if r.total == 0 {
		return r, errors.New("no VmRSS")
	}
	return r, nil
}

func freeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// startChild starts bin with args, its output into logPath, killed if we die.
func startChild(bin, logPath string, args ...string) (*exec.Cmd, *os.File, error) {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = logf
	return cmd, logf, nil
}

func stopChild(cmd *exec.Cmd) {
	cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

func run(bin string, sessions int, settle time.Duration, keep bool) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "routerrss")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}

	// The license server: `licgate licsim` on an ephemeral port.
	sim, simLog, err := startChild(bin, filepath.Join(dir, "licsim.log"), "licsim", "--listen", "127.0.0.1:0", "--seats", strconv.Itoa(sessions+10), "--idle", "1h")
	if err != nil {
		return err
	}
	defer simLog.Close()
	out, err := sim.StdoutPipe()
	if err != nil {
		return err
	}
	if err := sim.Start(); err != nil {
		return fmt.Errorf("licsim: %w", err)
	}
	defer stopChild(sim)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("licsim: %w", err)
	}
	go io.Copy(io.Discard, out)
	_, upstream, ok := strings.Cut(strings.TrimSpace(line), " on ")
	upstream, _, _ = strings.Cut(upstream, " ")
	if !ok {
		return fmt.Errorf("licsim said %q", line)
	}

	// The store: one user, one device per session, keys we hold.
	key, _ := tunnel.GenerateKey()
	if err := os.WriteFile(filepath.Join(dir, "wireguard.key"), []byte(key.String()+"\n"), 0o600); err != nil {
		return err
	}
	st, err := local.Open(ctx, dir)
	if err != nil {
		return err
	}
	if _, err := st.AddUser(ctx, "office", ""); err != nil {
		return err
	}
	pool := store.Pool{Subnet: netip.MustParsePrefix("10.44.0.0/16"), Reserved: []netip.Addr{netip.MustParseAddr("10.44.0.1")}}
	keys := make([]tunnel.Key, sessions)
	nds := make([]store.NewDevice, sessions)
	for i := range keys {
		keys[i], _ = tunnel.GenerateKey()
		nds[i] = store.NewDevice{User: "office", Name: fmt.Sprintf("dev%03d", i), PublicKey: keys[i].PublicKey().String()}
	}
	devs, err := st.AddDevices(ctx, nds, pool)
	if err != nil {
		return err
	}
	st.Close()

	port, err := freeUDPPort()
	if err != nil {
		return err
	}
	cfg := fmt.Sprintf(`state_dir: %s
log_level: warn
tunnel:
  mode: netstack
  listen_port: %d
  subnet: 10.44.0.0/16
  endpoint: 127.0.0.1
services:
  - name: codemeter
    port: 22350
    upstream: %s
policy:
  rules:
    - {action: allow, who: ["*"]}
`, dir, port, upstream)
	if memoryLimit != "" {
		cfg += "memory_limit: " + memoryLimit + "\n"
	}
	cfgPath := filepath.Join(dir, "licgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	gw, gwLog, err := startChild(bin, filepath.Join(dir, "licgate.log"), "serve", "-c", cfgPath)
	if err != nil {
		return err
	}
	defer gwLog.Close()
	gw.Stdout = gwLog
	if err := gw.Start(); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer stopChild(gw)
	api := adminapi.NewClient(filepath.Join(dir, "licgate.sock"))
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		var h adminapi.Health
		if err := api.Do(ctx, "GET", "/api/v1/health", nil, &h); err == nil && h.Devices == sessions {
			break
		}
		if time.Since(start) > 60*time.Second {
			return fmt.Errorf("licgate serve did not come up in 60 s (log in %s)", dir)
		}
	}
	pid := gw.Process.Pid
	time.Sleep(settle)
	idle, err := readRSS(pid)
	if err != nil {
		return err
	}
	fmt.Printf("binary %s\n", bin)
	fmt.Printf("VmRSS idle (%d devices configured, no sessions): %s\n", sessions, idle)

	// One WireGuard client per device, one licsim session each.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i, d := range devs {
		cl, err := tunnel.NewClient(ctx, tunnel.Profile{PrivateKey: keys[i], Address: netip.PrefixFrom(d.Address, 32), PeerPublicKey: key.PublicKey(),
			Endpoint: "127.0.0.1:" + strconv.Itoa(port), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.44.0.1/32")}, PersistentKeepalive: 25}, nil)
		if err != nil {
			return err
		}
		defer cl.Close()
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		c, err := cl.DialContext(dctx, "tcp", "10.44.0.1:22350")
		cancel()
		if err != nil {
			return fmt.Errorf("session %d: %w", i, err)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(c, "HELLO dev%03d\n", i)
		if ans, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(ans, "OK") {
			return fmt.Errorf("session %d: hello: %q %v", i, ans, err)
		}
		c.SetDeadline(time.Time{})
	}
	live, err := api.Sessions(ctx)
	if err != nil {
		return err
	}
	if len(live) != sessions {
		return fmt.Errorf("gateway reports %d sessions, want %d", len(live), sessions)
	}
	time.Sleep(settle)
	busy, err := readRSS(pid)
	if err != nil {
		return err
	}
	fmt.Printf("VmRSS with %d live sessions: %s, %.1f kB per session\n", sessions, busy, float64(busy.total-idle.total)/float64(sessions))
	return nil
}
