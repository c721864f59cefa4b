package installtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/internal/netnstest"
)

// TestInstalledBinary is docs/install-platforms.md's "Any other Linux with
// systemd (binary only)": the release binary, the example config and
// `licgate service install`, run as the doc has them in Debian 12 booted
// with systemd. The service must come up, unprivileged, and answer with
// the example config as it is (its license server is not there: licgate
// keeps trying). With the doc's earlier block (the config root:root 0600)
// it failed in a loop: config: open /etc/licgate/licgate.yaml: permission
// denied.
func TestInstalledBinary(t *testing.T) {
	requireTools(t)
	cmds := fencedBlock(t, filepath.Join("..", "..", "docs", "install-platforms.md"), "## Any other Linux with systemd")
	deb := buildDeb(t, "licgate_1.2.0_amd64.deb")
	bin := filepath.Join(filepath.Dir(deb), "licgate-linux-amd64")
	base := rootFS(t)

	m := newMachine(t, "binary", base, netnstest.New(t, "it-bin"))
	copyFile(t, bin, filepath.Join(m.root, "root", "licgate-linux-amd64"))
	copyFile(t, filepath.Join("..", "..", "deploy", "licgate.example.yaml"), filepath.Join(m.root, "root", "licgate.example.yaml"))
	mustWrite(t, filepath.Join(m.root, "etc", "resolv.conf"), "nameserver 127.0.0.1\n", 0o644)
	mustWrite(t, filepath.Join(m.root, "etc", "hostname"), "licgate-office\n", 0o644)
	mustWrite(t, filepath.Join(m.root, "etc", "hosts"), "127.0.0.1 localhost\n127.0.1.1 licgate-office\n", 0o644)
	m.Boot()
	for _, line := range cmds {
		out, err := m.Exec(2*time.Minute, line)
		t.Logf("IT$ %s\n%s", line, out)
		if err != nil {
			t.Fatalf("docs/install-platforms.md, binary only: %s: %v\n%s", line, err, m.serviceDiagnosis())
		}
	}
	// Up, answering, as the user licgate with CAP_NET_BIND_SERVICE only.
	m.checkRunsAsLicgate(t)
	if _, err := os.Stat(filepath.Join(m.root, "etc", "systemd", "system", "licgate.service")); err != nil {
		t.Errorf("no unit written by licgate service install: %v", err)
	}
	if out, _ := m.Exec(20*time.Second, "systemctl show -p ActiveState,SubState,NRestarts licgate"); !strings.Contains(out, "NRestarts=0") {
		t.Errorf("the service restarted:\n%s", out)
	}
}
