package office

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licgate/licgate/bundle"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/internal/licsim"
	"github.com/licgate/licgate/licmgr"
)

// twoPort is licsim acting as FlexNet: lmgrd on one port, the vendor
// daemon adskflex on another, both on loopback.
func twoPort(t *testing.T) *licsim.Manager {
	t.Helper()
	m := &licsim.Manager{Kind: "flexnet", Vendor: "adskflex", Seats: 2}
	if err := m.Listen("127.0.0.1:0", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func port(a net.Addr) int { return a.(*net.TCPAddr).Port }

func setupIn(t *testing.T, dir string, o SetupOptions) (string, error) {
	t.Helper()
	var out bytes.Buffer
	o.ConfigPath = filepath.Join(dir, "licgate.yaml")
	o.StateDir, o.PublicName, o.Portmap, o.NoService, o.Yes = dir, "office.example.test", "off", true, true
	o.In, o.Stdout = strings.NewReader(""), &out
	err := Setup(context.Background(), &o)
	return out.String(), err
}

// licgate setup --manager flexnet --license-file F against licsim in
// two-port mode: the config gets the type, the license file, and the
// lmgrd and vendor ports from it; each port is probed and answers; the
// file's warning comes back in "left to do" with its corrected line. A
// vendor daemon that stops answering is named.
func TestSetupFlexNetProbesEveryPort(t *testing.T) {
	m := twoPort(t)
	dir := t.TempDir()
	lic := filepath.Join(dir, "license.dat")
	// this_host is a placeholder: a warning with the line to write.
	os.WriteFile(lic, []byte(fmt.Sprintf("SERVER this_host 0123456789ab %d\nVENDOR adskflex PORT=%d\nINCREMENT cad adskflex 1.0 permanent 2 SIGN=0\n",
		port(m.MasterAddr()), port(m.VendorAddr()))), 0o644)
	out, err := setupIn(t, dir, SetupOptions{Manager: "flexnet", LicenseFile: lic, Upstream: "127.0.0.1"})
	if err != nil {
		t.Fatalf("setup: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	for _, want := range []string{
		fmt.Sprintf("lmgrd %d/tcp: answers", port(m.MasterAddr())),
		fmt.Sprintf("vendor adskflex %d/tcp: answers", port(m.VendorAddr())),
		"license file " + lic + ":1: host \"this_host\" is a placeholder",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if i := strings.Index(out, "Left to do:"); i < 0 || !strings.Contains(out[i:], "license file "+lic+":1") {
		t.Errorf("the license file's finding is not in left to do:\n%s", out)
	}
	cfg, err := config.Load(filepath.Join(dir, "licgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Services[0]
	if s.Name != "flexnet" || s.Settings.Kind() != licmgr.FlexNet || s.Settings.LicenseFile != lic || len(s.Settings.Ports) != 2 ||
		s.Settings.Ports[0].Port != port(m.MasterAddr()) || s.Settings.Ports[1].Port != port(m.VendorAddr()) || !s.Settings.Ports[1].HoldsSeats {
		t.Fatalf("service: %s %s %s %+v", s.Name, s.Settings.Kind(), s.Settings.LicenseFile, s.Settings.Ports)
	}
	// The admin's bundle points FlexNet clients at the gateway.
	b := &bundle.Bundle{Gateway: "10.44.0.1", Licenses: bundleLicenses(cfg)}
	if got, want := b.EnvPairs(), fmt.Sprintf("ADSKFLEX_LICENSE_FILE=%[1]d@10.44.0.1 LM_LICENSE_FILE=%[1]d@10.44.0.1", port(m.MasterAddr())); got != want || b.CodeMeter() {
		t.Errorf("bundle variables %q (CodeMeter %v), want %q and no CodeMeter", got, b.CodeMeter(), want)
	}

	// The vendor daemon stops: setup says so, and what to do.
	m.Server.Close()
	out, err = setupIn(t, dir, SetupOptions{})
	if err != nil {
		t.Fatalf("second setup: %v\n%s", err, out)
	}
	if !strings.Contains(out, fmt.Sprintf("vendor adskflex %d/tcp: NO ANSWER", port(m.VendorAddr()))) ||
		!strings.Contains(out, fmt.Sprintf("does not answer on vendor adskflex %d/tcp (license)", port(m.VendorAddr()))) {
		t.Fatalf("a dead vendor daemon is not named:\n%s", out)
	}
}

// An unpinned VENDOR line stops setup before anything is written, with
// the exact line to write; a bad --manager is a usage error.
func TestSetupFlexNetUnpinnedVendor(t *testing.T) {
	m := twoPort(t)
	dir := t.TempDir()
	lic := filepath.Join(dir, "license.dat")
	os.WriteFile(lic, []byte(fmt.Sprintf("SERVER lic1 0123456789ab %d\nVENDOR adskflex\nINCREMENT cad adskflex 1.0 permanent 2 SIGN=0\n", port(m.MasterAddr()))), 0o644)
	out, err := setupIn(t, dir, SetupOptions{Manager: "flexnet", LicenseFile: lic, Upstream: "127.0.0.1"})
	if err == nil || !strings.Contains(err.Error(), "VENDOR adskflex has no PORT=") || !strings.Contains(err.Error(), "fix: VENDOR adskflex PORT=") {
		t.Fatalf("unpinned vendor: %v\n%s", err, out)
	}
	if _, serr := os.Stat(filepath.Join(dir, "licgate.yaml")); serr == nil {
		t.Fatal("a config was written")
	}
	if _, err := setupIn(t, dir, SetupOptions{Manager: "flexlm", Upstream: "127.0.0.1"}); !errors.Is(err, ErrUsage) {
		t.Fatalf("--manager flexlm: %v", err)
	}
	if _, err := setupIn(t, dir, SetupOptions{Manager: "flexnet", Upstream: "127.0.0.1"}); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "--license-file") {
		t.Fatalf("flexnet without a license file: %v", err)
	}
}

// RLM from licsim's two-port mode, and the UDP probe: Sentinel RMS on
// a port where nothing listens is refused, on one where something does
// it is not.
func TestSetupRLMAndUDPProbe(t *testing.T) {
	m := &licsim.Manager{Kind: "rlm", Vendor: "foundry", Seats: 1}
	if err := m.Listen("127.0.0.1:0", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dir := t.TempDir()
	lic := filepath.Join(dir, "foundry.lic")
	os.WriteFile(lic, []byte(fmt.Sprintf("HOST lic1 0123456789ab %d\nISV foundry port=%d\nLICENSE foundry nuke 1.0 permanent 1 sig=\"x\"\n", port(m.MasterAddr()), port(m.VendorAddr()))), 0o644)
	out, err := setupIn(t, dir, SetupOptions{Manager: "rlm", LicenseFile: lic, Upstream: "127.0.0.1"})
	if err != nil || !strings.Contains(out, fmt.Sprintf("rlm %d/tcp: answers", port(m.MasterAddr()))) || !strings.Contains(out, fmt.Sprintf("isv foundry %d/tcp: answers", port(m.VendorAddr()))) {
		t.Fatalf("rlm: %v\n%s", err, out)
	}

	open, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	closed, _ := net.ListenPacket("udp", "127.0.0.1:0")
	closedPort := closed.LocalAddr().(*net.UDPAddr).Port
	closed.Close()
	res := probePorts("127.0.0.1", []licmgr.Port{
		{Name: "license", Port: open.LocalAddr().(*net.UDPAddr).Port, Protocols: []string{"udp"}},
		{Name: "license", Port: closedPort, Protocols: []string{"udp"}},
	}, 300e6)
	if !res[0].OK || res[1].OK {
		t.Fatalf("udp probes: open %v (%v), closed %v (%v)", res[0].OK, res[0].Err, res[1].OK, res[1].Err)
	}
}

// A SERVER line without a port: lmgrd's whole range is forwarded and
// probed, and "left to do" carries the exact line to write.
func TestSetupFlexNetServerLineFix(t *testing.T) {
	m := twoPort(t)
	dir := t.TempDir()
	lic := filepath.Join(dir, "license.dat")
	os.WriteFile(lic, []byte(fmt.Sprintf("SERVER lic1 0123456789ab\nVENDOR adskflex PORT=%d\nINCREMENT cad adskflex 1.0 permanent 2 SIGN=0\n", port(m.VendorAddr()))), 0o644)
	out, err := setupIn(t, dir, SetupOptions{Manager: "flexnet", LicenseFile: lic, Upstream: "127.0.0.1"})
	if err != nil {
		t.Fatalf("setup: %v\n%s", err, out)
	}
	i := strings.Index(out, "Left to do:")
	if i < 0 || !strings.Contains(out[i:], "change the line to: SERVER lic1 0123456789ab 27000") {
		t.Fatalf("no corrected SERVER line in left to do:\n%s", out)
	}
	cfg, err := config.Load(filepath.Join(dir, "licgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cfg.Services[0].Settings.Ports); n != 11 { // lmgrd 27000-27009 and the vendor daemon
		t.Fatalf("%d ports, want 11", n)
	}
}

// In a terminal, setup asks for the manager and the license file before
// the license server, and probes what the answers name.
func TestSetupAsksForManager(t *testing.T) {
	m := &licsim.Manager{Kind: "rlm", Vendor: "foundry", Seats: 1}
	if err := m.Listen("127.0.0.1:0", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dir := t.TempDir()
	lic := filepath.Join(dir, "foundry.lic")
	os.WriteFile(lic, []byte(fmt.Sprintf("HOST lic1 0123456789ab %d\nISV foundry port=%d\n", port(m.MasterAddr()), port(m.VendorAddr()))), 0o644)
	var out bytes.Buffer
	o := &SetupOptions{ConfigPath: filepath.Join(dir, "licgate.yaml"), StateDir: dir, NoService: true, Interactive: true,
		In: strings.NewReader("rlm\n" + lic + "\n127.0.0.1\noffice.example.test\nn\n"), Stdout: &out}
	if err := Setup(context.Background(), o); err != nil {
		t.Fatalf("setup: %v\n%s", err, out.String())
	}
	for _, want := range []string{"License manager (codemeter, flexnet, rlm, sentinel-ldk, sentinel-rms, generic) [codemeter]: ",
		"license file (its VENDOR/ISV lines give the ports to forward) []: ", fmt.Sprintf("isv foundry %d/tcp: answers", port(m.VendorAddr()))} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	cfg, err := config.Load(o.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Services[0]; s.Settings.Kind() != licmgr.RLM || s.Upstream != fmt.Sprintf("127.0.0.1:%d", port(m.MasterAddr())) || len(s.Settings.Ports) != 2 {
		t.Fatalf("service %s %s %+v", s.Settings.Kind(), s.Upstream, s.Settings.Ports)
	}
}
