package doctor

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/gateway/gatewaytest"
	"github.com/licgate/licgate/portmap"
)

// finds reports whether the findings hold level for what.
func finds(d *Doctor, level, what string) bool {
	for _, f := range d.Findings {
		if f.Level == level && strings.HasPrefix(f.What, what) {
			return true
		}
	}
	return false
}

func (d *Doctor) String() string {
	var b strings.Builder
	d.Report(&b, false)
	return b.String()
}

// Each failure made on purpose gives its FAIL (or WARN) and a non-zero
// exit; a healthy gateway passes.
func TestDoctor(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t)
	ctx := context.Background()
	h.AddDevice("alice", "laptop").TakeSeat(t).Close()
	if _, err := h.GW.AddUser(ctx, "bob", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.GW.AddDevice(ctx, "bob", "pc", ""); err != nil { // never connects
		t.Fatal(err)
	}
	d := &Doctor{Ctx: ctx, ConfigPath: h.ConfigPath, Socket: h.Config.Socket, DialTimeout: time.Second}
	d.Run()
	for _, what := range []string{"config", "clock", "upstream codemeter", "daemon", "wireguard port"} {
		if !finds(d, levelOK, what) {
			t.Errorf("healthy gateway: no OK for %s:\n%s", what, d)
		}
	}
	if !finds(d, levelWarn, "devices") || !strings.Contains(d.String(), "bob/pc") {
		t.Errorf("a device that never connected is not named:\n%s", d)
	}
	if err := d.Report(new(strings.Builder), true); err != nil {
		t.Errorf("only warnings, yet exit non-zero: %v\n%s", err, d)
	}

	// The license server is down.
	h.Server.Close()
	d = &Doctor{Ctx: ctx, ConfigPath: h.ConfigPath, Socket: h.Config.Socket, DialTimeout: time.Second}
	d.Run()
	if !finds(d, levelFail, "upstream codemeter") || d.Report(new(strings.Builder), true) == nil {
		t.Errorf("upstream down not a FAIL:\n%s", d)
	}

	// The daemon is not running (wrong socket).
	d = &Doctor{Ctx: ctx, ConfigPath: h.ConfigPath, Socket: filepath.Join(t.TempDir(), "none.sock"), DialTimeout: time.Second}
	d.Run()
	if !finds(d, levelFail, "daemon") || !strings.Contains(d.String(), "not running") {
		t.Errorf("daemon down not a FAIL:\n%s", d)
	}

	// A broken config.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("tunnel:\n  subnett: x\n"), 0o600)
	d = &Doctor{Ctx: ctx, ConfigPath: bad}
	d.Run()
	if !finds(d, levelFail, "config") || !strings.Contains(d.String(), "bad.yaml:2") {
		t.Errorf("bad config not a FAIL with file:line:\n%s", d)
	}

	// A clock before the build (or before 2025).
	d = &Doctor{Ctx: ctx, Now: func() time.Time { return time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC) }}
	d.clock()
	if !finds(d, levelFail, "clock") {
		t.Errorf("wrong clock not a FAIL:\n%s", d)
	}

	// The router refuses the mapping; a router behind another NAT.
	d = &Doctor{Ctx: ctx}
	d.portmap(adminapi.Health{Portmap: &portmap.Status{State: "failing", LastError: "router at 192.168.1.1 answered neither PCP, NAT-PMP nor UPnP", InternalPort: 51820}})
	d.portmap(adminapi.Health{Portmap: &portmap.Status{State: "mapped", NotPublic: true, Protocol: "upnp"}})
	if !finds(d, levelFail, "router port") || !finds(d, levelWarn, "router port") {
		t.Errorf("port mapping problems:\n%s", d)
	}

	// The WireGuard port is not held (the daemon is elsewhere).
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	d = &Doctor{Ctx: ctx}
	d.wireguardPort(adminapi.Health{ListenPort: port})
	if !finds(d, levelWarn, "wireguard port") {
		t.Errorf("free WireGuard port not reported:\n%s", d)
	}
}
