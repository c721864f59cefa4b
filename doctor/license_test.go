package doctor

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/licgate/licgate/internal/licsim"
)

// A flexnet service: the license file's warnings and the vendor daemon's
// pinned port are checked; a vendor port that does not answer FAILs.
func TestDoctorLicenseServers(t *testing.T) {
	m := &licsim.Manager{Kind: "flexnet", Vendor: "adskflex"}
	if err := m.Listen("127.0.0.1:0", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	mp := m.MasterAddr().(*net.TCPAddr).Port
	vp := m.VendorAddr().(*net.TCPAddr).Port
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "license.dat"), []byte(fmt.Sprintf("SERVER this_host ANY %d\nVENDOR adskflex PORT=%d\n", mp, vp)), 0o600)
	cfgPath := filepath.Join(dir, "licgate.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`state_dir: %s
socket: %s
tunnel:
  endpoint: office.example.com
services:
  - name: cad
    type: flexnet
    upstream: 127.0.0.1
    license_file: license.dat
`, dir, filepath.Join(dir, "none.sock"))), 0o600)
	d := &Doctor{Ctx: context.Background(), ConfigPath: cfgPath}
	d.Run()
	if !finds(d, levelWarn, "license file cad") || !finds(d, levelOK, "upstream cad vendor adskflex") || !finds(d, levelOK, "upstream cad") {
		t.Fatalf("healthy flexnet service:\n%s", d)
	}
	m.Server.Close() // the vendor daemon is down (or was never restarted after pinning)
	d = &Doctor{Ctx: context.Background(), ConfigPath: cfgPath}
	d.Run()
	if !finds(d, levelFail, "upstream cad vendor adskflex") {
		t.Fatalf("vendor port down:\n%s", d)
	}
}
