package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/licgate/licgate/licmgr"
)

// portList renders expanded ports: "27000/tcp 27001/tcp*" (* holds seats).
func portList(ps []licmgr.Port) string {
	var out []string
	for _, p := range ps {
		s := fmt.Sprintf("%d/%s", p.Port, strings.Join(p.Protocols, "+"))
		if p.HoldsSeats {
			s += "*"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func TestServiceTypeExpands(t *testing.T) {
	cases := []struct {
		name, services string
		want           []string // per service
	}{
		{"codemeter", "  - name: cm\n    type: codemeter\n    upstream: 192.168.1.10\n",
			[]string{"22350/tcp+udp*"}},
		{"flexnet with daemons", "  - name: cad\n    type: flexnet\n    port: 27000\n    upstream: 192.168.1.10\n    daemons:\n      - {name: adskflex, port: 27001}\n      - {name: MLM, port: 27010}\n",
			[]string{"27000/tcp 27001/tcp* 27010/tcp*"}},
		{"rlm with web", "  - name: nuke\n    type: rlm\n    upstream: 192.168.1.10\n    admin_ports: true\n    daemons: [{name: foundry, port: 4101}]\n",
			[]string{"5053/tcp 4101/tcp* 5054/tcp"}},
		{"ldk and rms side by side", "  - name: ldk\n    type: sentinel-ldk\n    upstream: 192.168.1.11\n  - name: rms\n    type: sentinel-rms\n    upstream: 192.168.1.12\n",
			[]string{"1947/tcp+udp*", "5093/udp*"}},
		{"untyped stays one port", "  - name: old\n    port: 7070\n    protocols: [tcp]\n    upstream: 192.168.1.10\n",
			[]string{"7070/tcp*"}},
	}
	for _, c := range cases {
		cfg, err := Parse("licgate.yaml", []byte("services:\n"+c.services))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		for i, want := range c.want {
			if got := portList(cfg.Services[i].Ports); got != want {
				t.Errorf("%s: services.%d ports %s, want %s", c.name, i, got, want)
			}
		}
	}
	cfg, err := Parse("licgate.yaml", []byte("services:\n  - name: cad\n    type: flexnet\n    upstream: lic.office.lan\n    daemons: [{name: awrd, port: 27008}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Services[0]
	if s.Port != 27000 || s.Upstream != "lic.office.lan:27000" || len(s.Ports) != 10 || s.Kind() != licmgr.FlexNet {
		t.Errorf("flexnet without a port: port %d upstream %s ports %s", s.Port, s.Upstream, portList(s.Ports))
	}
}

// The license file gives the daemons' ports and the SERVER port; an
// unpinned VENDOR line is a config error that names the license file's
// line and the corrected line.
func TestServiceTypeLicenseFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "good.lic"), []byte("SERVER lic1 0123abcd 27005\nVENDOR adskflex PORT=2080\nUSE_SERVER\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "bad.lic"), []byte("SERVER lic1 0123abcd 1700\nVENDOR sampled\n"), 0o600)
	cfg, err := Parse(filepath.Join(dir, "licgate.yaml"), []byte("services:\n  - name: cad\n    type: flexnet\n    upstream: 192.168.1.10\n    license_file: good.lic\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := portList(cfg.Services[0].Ports); got != "27005/tcp 2080/tcp*" {
		t.Errorf("ports from the license file: %s", got)
	}
	_, err = Parse(filepath.Join(dir, "licgate.yaml"), []byte("tunnel:\n  endpoint: x\nservices:\n  - name: cad\n    type: flexnet\n    upstream: 192.168.1.10\n    license_file: bad.lic\n"))
	if err == nil || !errors.Is(err, ErrConfig) {
		t.Fatalf("unpinned vendor: %v", err)
	}
	for _, want := range []string{"licgate.yaml:7: services.0.license_file:", "bad.lic:2: error: VENDOR sampled has no PORT=", "fix: VENDOR sampled PORT=1701"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestServiceTypeErrors(t *testing.T) {
	cases := []struct{ services, want string }{
		{"  - name: a\n    type: hasp\n    upstream: h\n", `licgate.yaml:3: services.0.type: "hasp" is not one of codemeter, flexnet, rlm, sentinel-ldk, sentinel-rms, generic`},
		{"  - name: a\n    type: flexnet\n    upstream: h\n", "licgate.yaml:3: services.0.type: a vendor daemon or ISV server needs a pinned port"},
		{"  - name: a\n    type: rlm\n    upstream: h\n    daemons: [{name: x, port: 0}]\n", "licgate.yaml:5: services.0.daemons.0.port: 0 is not a port"},
		{"  - name: a\n    type: rlm\n    upstream: h\n    daemons: [{port: 5}]\n", "services.0.daemons.0.name: missing"},
		{"  - name: a\n    port: 7\n    upstream: h\n    daemons: [{name: x, port: 9}]\n", "services.0.daemons: daemons need a type"},
		{"  - name: a\n    type: codemeter\n    upstream: h\n    license_file: x.lic\n", "license files are read for flexnet and rlm, not codemeter"},
		{"  - name: a\n    type: flexnet\n    upstream: h\n    license_file: /nonexistent/x.lic\n", "services.0.license_file: licmgr: license file: open "},
		{"  - name: a\n    type: rlm\n    upstream: h\n    daemons: [{name: x, port: 6000}]\n  - name: b\n    type: generic\n    port: 6000\n    protocols: [tcp]\n    upstream: h\n",
			"services.1.type: tcp port 6000 (license) is already used by services.0 (a)"},
		{"  - name: a\n    type: codemeter\n    upstream: h\n  - name: b\n    type: codemeter\n    upstream: h2\n", "services.1.port: tcp port 22350 is already used by services.0 (a)"},
	}
	for _, c := range cases {
		_, err := Parse("licgate.yaml", []byte("services:\n"+c.services))
		if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("services:\n%s\nerr = %v\nwant %q", c.services, err, c.want)
		}
	}
}

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// Each config in docs/license-servers.md loads, and expands to the ports
// its section names.
func TestLicenseServersDocConfigsLoad(t *testing.T) {
	path := filepath.Join("..", "docs", "license-servers.md")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks := yamlBlock.FindAllSubmatchIndex(data, -1)
	kinds := map[string]bool{}
	for _, m := range blocks {
		line := 1 + strings.Count(string(data[:m[2]]), "\n")
		name := fmt.Sprintf("%s:%d", path, line)
		cfg, err := Parse(name, data[m[2]:m[3]])
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for _, s := range cfg.Services {
			kinds[s.Type] = true
			if len(s.Ports) == 0 {
				t.Errorf("%s: service %s has no ports", name, s.Name)
			}
		}
	}
	for _, k := range licmgr.Kinds {
		if !kinds[string(k)] {
			t.Errorf("%s has no config with type: %s", path, k)
		}
	}
}
