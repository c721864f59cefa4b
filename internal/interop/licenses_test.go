package interop

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/internal/licsim"
	"github.com/licgate/licgate/licmgr"
)

// standInLmutil puts an `lmutil` on PATH that answers `lmutil lmstat -a
// -c port@host` with licsim's STATUS (lmstat's format), as the vendor's
// tool would from the license server: licgate runs it to learn who holds
// the seats.
func standInLmutil(t *testing.T) {
	dir := t.TempDir()
	script := `#!/bin/bash
# lmutil lmstat -a -c port@host, answered by licsim's master port.
at="$4"; port="${at%@*}"; host="${at#*@}"
exec 3<>"/dev/tcp/$host/$port" || exit 1
echo STATUS >&3
cat <&3
`
	if err := os.WriteFile(filepath.Join(dir, "lmutil"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// TestFlexNetThroughWgQuick: a home device brought up by wg-quick checks
// out a seat through licgate from licsim acting as FlexNet (lmgrd lookup,
// then the vendor daemon's port); the cap holds on the vendor port while
// lookups pass; the refusal names the holder and the license file's
// unpinned VENDOR line, which doctor names too; `licgate licenses` agrees
// with the server's own status.
func TestFlexNetThroughWgQuick(t *testing.T) {
	standInLmutil(t)
	var m *licsim.Manager
	var mp, vp string
	l := newLab(t, netstackTunnel, func(l *lab) {
		m = &licsim.Manager{Kind: "flexnet", Vendor: "adskflex", Feature: "cad", Seats: 5}
		l.office.Do(func() {
			if err := m.Listen("127.0.0.1:0", "127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
		})
		t.Cleanup(func() { m.Close() })
		_, mp, _ = net.SplitHostPort(m.MasterAddr().String())
		_, vp, _ = net.SplitHostPort(m.VendorAddr().String())
		// The license file leaves the vendor daemon unpinned (the OS picked
		// its port this time); the config names the port it has now.
		os.WriteFile(filepath.Join(l.dir, "license.dat"), []byte(fmt.Sprintf("SERVER licsim ANY %s\nVENDOR adskflex\nFEATURE cad adskflex 1.0 permanent 5 SIGN=0\n", mp)), 0o600)
		l.serviceYAML = fmt.Sprintf("  - name: cad\n    type: flexnet\n    upstream: 127.0.0.1\n    license_file: license.dat\n    daemons: [{name: adskflex, port: %s}]\n", vp)
		l.policyYAML = "policy:\n  services:\n    cad: {max_sessions: 1}\n  rules:\n    - {action: allow, who: [\"*\"]}\n"
	})
	l.cli("user", "add", "alice")
	name := tunName("lgf")
	l.cli("device", "add", "alice", "laptop", "--out", filepath.Join(l.dir, name), "--no-qr")
	l.wgUp(filepath.Join(l.dir, name+".conf"))
	dial := func(network, addr string) (net.Conn, error) { return l.dial(network, addr, 10*time.Second) }
	master := "10.44.0.1:" + mp

	seat, err := licsim.Checkout(dial, master, "adskflex", "alice@laptop")
	if err != nil {
		t.Fatalf("checkout through wg-quick and licgate: %v", err)
	}
	defer seat.Close()
	if !m.Server.WaitInUse(1, 5*time.Second) {
		t.Fatalf("server holds %d seats, want 1", m.Server.InUse())
	}
	for i := 0; i < 3; i++ { // lmgrd stays reachable with the pool full
		if _, err := licsim.Lookup(dial, master, "adskflex"); err != nil {
			t.Fatalf("lookup %d with the pool full: %v", i, err)
		}
	}
	if c, err := licsim.Checkout(dial, master, "adskflex", "alice@laptop-2nd-app"); err == nil {
		c.Close()
		t.Fatal("a second seat past max_sessions: 1 was checked out")
	}
	if n := m.Server.InUse(); n != 1 {
		t.Fatalf("server holds %d seats after the refusal, want 1", n)
	}
	var denials string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if denials = l.cli("denials"); strings.Contains(denials, "cad") {
			break
		}
	}
	for _, want := range []string{"1 of 5 in use: alice/laptop", "license.dat:2", "VENDOR adskflex"} {
		if !strings.Contains(denials, want) {
			t.Errorf("denials do not name %q:\n%s", want, denials)
		}
	}

	// licgate licenses agrees with the server's own lmstat.
	server, err := licmgr.ParseLmstat(strings.NewReader(m.Status()), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f, _ := server.Feature("cad")
	lic := l.cli("licenses")
	t.Logf("licgate licenses:\n%s\ndenials:\n%s", lic, denials)
	row := fmt.Sprintf("cad      cad      %d", f.Total)
	if !strings.Contains(lic, "alice/laptop") || !strings.Contains(lic, "alice@laptop") || !strings.Contains(strings.Join(strings.Fields(lic), " "), strings.Join(strings.Fields(row), " ")+" 1 ") {
		t.Errorf("licgate licenses does not say cad %d of %d held by alice/laptop (server: %d in use):\n%s", 1, f.Total, f.InUse, lic)
	}

	// doctor names the unpinned VENDOR line.
	out, _ := exec.Command(licgateBin, "doctor", "-c", filepath.Join(l.dir, "licgate.yaml")).CombinedOutput()
	if !strings.Contains(string(out), "license.dat:2") || !strings.Contains(string(out), "PORT=") {
		t.Errorf("doctor does not name the unpinned vendor daemon:\n%s", out)
	}
}
