package config

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestDefaultConfig(t *testing.T) {
	c := Default()
	if c.Tunnel.Mode != "netstack" || c.ListenPort() != 51820 || c.Tunnel.Subnet != "10.44.0.0/24" || c.Tunnel.Address != "10.44.0.1" {
		t.Fatalf("tunnel defaults: %+v", c.Tunnel)
	}
	if len(c.Services) != 1 || c.Services[0].Name != "codemeter" || c.Services[0].Port != 22350 ||
		strings.Join(c.Services[0].Protocols, ",") != "tcp,udp" {
		t.Fatalf("service defaults: %+v", c.Services)
	}
	// A missing file means defaults, not an error.
	c2, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err != nil || c2.Tunnel.Address != "10.44.0.1" {
		t.Fatalf("missing file: %v", err)
	}
}

func TestConfigValid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "licgate.yaml")
	os.WriteFile(path, []byte(`# office gateway
state_dir: /tmp/x
log_level: debug
tunnel:
  listen_port: 51821
  subnet: 10.50.0.0/16
  address: 10.50.0.1
  endpoint: office.example.com
services:
  - name: codemeter
    port: 22350
    upstream: 192.168.1.10
  - name: flexlm
    port: 27000
    protocols: [tcp]
    upstream: lic.office.lan:27000
    dial_timeout: 2s
`), 0o600)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Services[0].Upstream != "192.168.1.10:22350" {
		t.Errorf("upstream without port: %q", c.Services[0].Upstream)
	}
	if c.Services[1].DialTimeout.Seconds() != 2 || c.Services[1].UDPIdleTimeout.Seconds() != 60 {
		t.Errorf("durations: %v %v", c.Services[1].DialTimeout, c.Services[1].UDPIdleTimeout)
	}
	if c.Socket != filepath.FromSlash("/tmp/x/licgate.sock") || c.SlogLevel().String() != "DEBUG" {
		t.Errorf("socket %q level %v", c.Socket, c.SlogLevel())
	}
}

// Each bad input names the file, the line and the problem.
func TestConfigErrorsNameFileAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown top key", "state_dir: /x\nlisten: 1\n", "c.yaml:2: listen: unknown key"},
		{"unknown nested key", "tunnel:\n  mode: netstack\n  subnett: 10.0.0.0/24\n", "c.yaml:3: tunnel.subnett: unknown key"},
		{"syntax", "tunnel:\n  mode: [netstack\n", "c.yaml:"},
		{"wrong type", "tunnel:\n  listen_port: many\n", "c.yaml:2: tunnel.listen_port: cannot unmarshal"},
		{"bad mode", "tunnel:\n  mode: ipsec\n", "c.yaml:2: tunnel.mode: \"ipsec\" is not one of"},
		{"bad port", "tunnel:\n  listen_port: 70000\n", "c.yaml:2: tunnel.listen_port: 70000"},
		{"bad subnet", "log_level: info\ntunnel:\n  subnet: 10.44.0.0/33\n", "c.yaml:3: tunnel.subnet"},
		{"host bits", "tunnel:\n  subnet: 10.44.0.7/24\n", "c.yaml:2: tunnel.subnet: 10.44.0.7/24 has host bits set; did you mean 10.44.0.0/24"},
		{"tiny subnet", "tunnel:\n  subnet: 10.44.0.0/30\n", "c.yaml:2: tunnel.subnet: 10.44.0.0/30 is too small"},
		{"address outside", "tunnel:\n  subnet: 10.44.0.0/24\n  address: 10.45.0.1\n", "c.yaml:3: tunnel.address: 10.45.0.1 is not a host address in tunnel.subnet"},
		{"bad level", "\n\nlog_level: loud\n", "c.yaml:3: log_level"},
		{"bad mtu", "tunnel:\n  mtu: 100\n", "c.yaml:2: tunnel.mtu"},
		{"bad memory limit", "memory_limit: lots\n", `c.yaml:1: memory_limit: "lots" is not a size`},
		{"tiny memory limit", "memory_limit: 1MiB\n", "c.yaml:1: memory_limit: 1MiB is below 32MiB"},
		{"negative memory limit", "memory_limit: -5MiB\n", "c.yaml:1: memory_limit"},
		{"bad ack delay", "tunnel:\n  ack_delay: soon\n", `c.yaml:2: tunnel.ack_delay: "soon" is not a duration`},
		{"negative ack delay", "tunnel:\n  ack_delay: -1ms\n", "c.yaml:2: tunnel.ack_delay"},
		{"long ack delay", "tunnel:\n  ack_delay: 200ms\n", "c.yaml:2: tunnel.ack_delay: 200ms is more than 50ms"},
		{"service name", "services:\n  - name: Code Meter\n    port: 1\n    upstream: a:1\n", "c.yaml:2: services.0.name"},
		{"dup service", "services:\n  - name: a\n    port: 1\n    upstream: x:1\n  - name: a\n    port: 2\n    upstream: x:2\n", "c.yaml:5: services.1.name: service \"a\" is already defined"},
		{"dup port", "services:\n  - name: a\n    port: 1\n    upstream: x:1\n  - name: b\n    port: 1\n    protocols: [udp]\n    upstream: x:2\n", "c.yaml:6: services.1.port: udp port 1 is already used by services.0 (a)"},
		{"bad proto", "services:\n  - name: a\n    port: 1\n    protocols: [tcp, sctp]\n    upstream: x:1\n", "c.yaml:4: services.0.protocols.1: \"sctp\" is not tcp or udp"},
		{"no upstream", "services:\n  - name: a\n    port: 1\n", "c.yaml:2: services.0.upstream: missing"},
		{"upstream in tunnel", "services:\n  - name: a\n    port: 1\n    upstream: 10.44.0.9:1\n", "c.yaml:4: services.0.upstream: 10.44.0.9 is inside tunnel.subnet"},
		{"upstream bad port", "services:\n  - name: a\n    port: 1\n    upstream: x:99999\n", "c.yaml:4: services.0.upstream"},
		{"bad duration", "services:\n  - name: a\n    port: 1\n    upstream: x:1\n    udp_idle_timeout: soon\n", "c.yaml:5: services.0.udp_idle_timeout: \"soon\" is not a duration"},
		{"ddns without host", "ddns:\n  providers: [{name: a, type: duckdns, token: t}]\n", "c.yaml:1: ddns.host: missing"},
		{"ddns bad host", "ddns:\n  host: office\n", "c.yaml:2: ddns.host: \"office\" is not a fully qualified"},
		{"ddns no providers", "ddns:\n  host: office.example.com\n", "c.yaml:1: ddns.providers: missing"},
		{"ddns bad type", "ddns:\n  host: o.example.com\n  providers:\n    - name: a\n      type: noip\n", "c.yaml:5: ddns.providers.0.type: \"noip\" is not rfc2136"},
		{"ddns zone mismatch", "ddns:\n  host: o.example.com\n  providers:\n    - {name: a, type: rfc2136, server: 'ns:53', zone: example.org, key_name: k, secret: s}\n", "c.yaml:4: ddns.providers.0.zone: host o.example.com is not inside zone example.org"},
		{"ddns no secret", "ddns:\n  host: o.example.com\n  providers:\n    - {name: a, type: rfc2136, server: 'ns:53', zone: example.com, key_name: k}\n", "ddns.providers.0.secret: missing"},
		{"ddns md5", "ddns:\n  host: o.example.com\n  providers:\n    - {name: a, type: rfc2136, server: 'ns:53', zone: example.com, key_name: k, secret: s, algorithm: hmac-md5}\n", "ddns.providers.0.algorithm"},
		{"ddns fast poll", "ddns:\n  host: o.example.com\n  interval: 1s\n", "c.yaml:3: ddns.interval: 1s is too short"},
		{"ddns bad source", "ddns:\n  host: o.example.com\n  sources:\n    - {type: ipify}\n", "c.yaml:4: ddns.sources.0.type"},
		{"ddns dyndns no password", "ddns:\n  host: o.example.com\n  providers:\n    - {name: a, type: dyndns2, url: 'https://x/nic/update', username: u}\n", "ddns.providers.0.password: missing"},
		{"two documents", "log_level: info\n---\nlog_level: debug\n", "c.yaml:2: a second YAML document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("no error; want %q", tc.want)
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error is not ErrConfig: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\ndoes not contain %q", err, tc.want)
			}
		})
	}
}

// The shipped example configs must load.
func TestShippedConfigsLoad(t *testing.T) {
	for _, f := range []string{"../deploy/licgate.example.yaml", "../deploy/compose.yaml"} {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// Configs with bytes YAML refuses still name file:line.
func TestBadBytesNameTheLine(t *testing.T) {
	for _, doc := range []string{"log_level: info\nstate_dir: \xff\xfe\n", "log_level: info\n\x01state_dir: x\n", "a: *nope\n"} {
		_, err := Parse("c.yaml", []byte(doc))
		if err == nil || !regexp.MustCompile(`c\.yaml:\d+: `).MatchString(err.Error()) {
			t.Errorf("%q: %v", doc, err)
		}
	}
}

// Every error from a mutated config names file:line (14.6% of 20,000
// mutated configs did not before). Mutations: byte flips, deletions,
// insertions of control characters, bad UTF-8, YAML punctuation.
func TestMutatedConfigErrorsNameFileLine(t *testing.T) {
	base, err := os.ReadFile("../deploy/licgate.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	inserts := []string{"\x00", "\x01", "\xff", "\xc3", ":", "- ", "*a", "&a ", "{", "]", "\t", "!!int ", "<<: *x\n", "\n  ", "'"}
	located := regexp.MustCompile(`m\.yaml:\d+: `)
	n := 5000
	if testing.Short() {
		n = 500
	}
	bad, errs := 0, 0
	for i := 0; i < n; i++ {
		doc := []byte(string(base))
		for k := 1 + rng.IntN(3); k > 0; k-- {
			pos := rng.IntN(len(doc))
			switch rng.IntN(3) {
			case 0:
				doc[pos] ^= byte(1 << rng.IntN(8))
			case 1:
				doc = append(doc[:pos], doc[pos+1:]...)
			default:
				ins := inserts[rng.IntN(len(inserts))]
				doc = append(doc[:pos], append([]byte(ins), doc[pos:]...)...)
			}
		}
		_, err := Parse(filepath.Join(t.TempDir(), "m.yaml"), doc)
		if err != nil {
			errs++
		}
		if err != nil && !located.MatchString(err.Error()) {
			bad++
			if bad <= 5 {
				t.Errorf("no file:line: %v\n--- doc:\n%s", err, doc)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d errors without file:line", bad, errs)
	}
	if errs < n/4 {
		t.Fatalf("only %d of %d mutations gave errors: the mutations are too weak to test anything", errs, n)
	}
}
