package benchkit

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/local"
	"github.com/licgate/licgate/tunnel"
)

// Licgate is how the sections that start `licgate serve` run it: the
// command line's settings they share.
type Licgate struct {
	// MemoryLimit is licgate's memory_limit (-memory-limit); "" for none.
	MemoryLimit string
	// Baseline is a licgate binary to measure against in the same run
	// (-baseline): a row of its own in the real path section (netstack)
	// and paired runs in the startup section; "" for none. Build it from
	// an older commit, e.g. `git worktree add /tmp/lg-old <commit> && (cd
	// /tmp/lg-old && go build -o /tmp/licgate-old ./cmd/licgate)`.
	Baseline string
}

// BuildLicgate builds this tree's licgate command to bin.
func BuildLicgate(bin string) error {
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/licgate/licgate/cmd/licgate").CombinedOutput(); err != nil {
		return fmt.Errorf("build licgate: %v\n%s", err, out)
	}
	return nil
}

// GatewayProc is licgate serve in its own process with a pre-filled store.
type GatewayProc struct {
	Dir  string // state directory; the admin socket is Dir/licgate.sock
	Cmd  *exec.Cmd
	Pub  tunnel.Key // the gateway's WireGuard public key
	Port int        // WireGuard listen port on 127.0.0.1
}

// StartGateway starts bin with devices devices in its store (the first
// len(active) with those keys), a service proxying to upstream, and waits
// until its API counts them all; it returns how long that took.
func (lg Licgate) StartGateway(bin string, devices int, upstream string, active []tunnel.Key) (*GatewayProc, time.Duration, error) {
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
	port := FreeUDPPort()
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
`, dir, port, upstream, lg.ReconnectOff(bin))
	if lg.MemoryLimit != "" {
		cfg += "memory_limit: " + lg.MemoryLimit + "\n"
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
	return &GatewayProc{Dir: dir, Cmd: cmd, Pub: key.PublicKey(), Port: port}, time.Since(start), nil
}

// ReconnectOff is the service line that turns the reconnect rule off
// (config reconnect_silence, issue 25): the benchmark's home devices
// each hold many sessions at once, standing in for many users, and the
// rule would cut a device's earlier silent seats whenever it opens a new
// one. Empty for the baseline binary, which predates the setting.
func (lg Licgate) ReconnectOff(bin string) string {
	if bin != "" && bin == lg.Baseline {
		return ""
	}
	return "    reconnect_silence: \"off\"\n"
}

// Stop interrupts the gateway, kills it if it has not exited after 20 s,
// and removes its state directory.
func (g *GatewayProc) Stop() {
	g.Cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { g.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		g.Cmd.Process.Kill()
	}
	os.RemoveAll(g.Dir)
}
