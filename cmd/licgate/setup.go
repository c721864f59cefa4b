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
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/internal/atomicfile"
	"github.com/licgate/licgate/service"
	"github.com/licgate/licgate/store"
)

// setupTemplate is the commented config `licgate setup` writes the first
// time; later runs change only the keys asked for, comments kept.
const setupTemplate = `# licgate configuration, written by ` + "`licgate setup`" + `. Every key is optional;
# unknown keys are errors. Check it with: licgate serve --check -c THIS_FILE
# Full reference: deploy/licgate.example.yaml and docs/.

tunnel:
  mode: netstack            # userspace WireGuard: no driver, no root needed
  listen_port: 51820        # the UDP port home devices reach (open it on the router)
  endpoint: ""              # the office's public name or address (home profiles point at it)

services:
  - name: codemeter
    port: 22350
    protocols: [tcp, udp]   # license access and server search
    upstream: ""            # the license server, host:port

# Who may obtain licenses from home. First matching rule wins; no match: denied.
policy:
  groups:
    admins: []              # may also use the admin console at https://10.44.0.1/
    staff: []               # add users here (or licgate user import FILE.csv)
  rules:
    - {name: admins, action: allow, who: [group:admins]}
    - {name: staff, action: allow, who: [group:staff]}

# Opens listen_port on the office router by UPnP / NAT-PMP / PCP.
portmap:
  enabled: false
`

type setupOptions struct {
	cfgPath, upstream, publicName, admin, device, out, stateDir string
	port                                                        int
	portmap                                                     string // "", "on", "off"
	publicListen                                                string
	smtpHost, smtpFrom, smtpSecurity, smtpUser, smtpPassFile    string
	smtpPort                                                    int
	yes, noService                                              bool
	in                                                          io.Reader
	interactive                                                 bool
}

func setupSetup(fs *flag.FlagSet) runFunc {
	o := &setupOptions{}
	fs.StringVar(&o.cfgPath, "c", defaultConfig, "config `FILE` to write (or change)")
	fs.StringVar(&o.upstream, "upstream", "", "the license server, `HOST[:PORT]` (default port 22350)")
	fs.StringVar(&o.publicName, "public-name", "", "the office's public `NAME` or address home devices connect to")
	fs.IntVar(&o.port, "port", 0, "WireGuard UDP `PORT` (default 51820)")
	fs.StringVar(&o.portmap, "portmap", "", "open the port on the router by UPnP/NAT-PMP/PCP: on or off")
	fs.StringVar(&o.stateDir, "state-dir", "", "state `DIR` (default the platform's: "+service.Paths().StateDir+")")
	fs.StringVar(&o.publicListen, "public-listen", "", "serve enrolment links on `ADDR` (e.g. :443) for licgate invite")
	fs.StringVar(&o.smtpHost, "smtp-host", "", "send invitations through the SMTP server `HOST` (smtp.host)")
	fs.IntVar(&o.smtpPort, "smtp-port", 0, "SMTP `PORT` (default 587 for starttls, 465 for tls, 25 for none)")
	fs.StringVar(&o.smtpFrom, "smtp-from", "", "invitations' sender, e.g. `\"Office IT <it@example.com>\"`")
	fs.StringVar(&o.smtpSecurity, "smtp-security", "", "`starttls` (default), tls, or none (a server on this machine only)")
	fs.StringVar(&o.smtpUser, "smtp-user", "", "SMTP login `NAME` (with --smtp-password-file)")
	fs.StringVar(&o.smtpPassFile, "smtp-password-file", "", "`FILE` holding the SMTP password")
	fs.StringVar(&o.admin, "admin", "", "enrol `NAME` as the first admin, with a device")
	fs.StringVar(&o.device, "device", "laptop", "the admin's device `NAME`")
	fs.StringVar(&o.out, "out", "", "write the admin's bundle with this `PREFIX` (default ./NAME-DEVICE)")
	fs.BoolVar(&o.yes, "yes", false, "do not ask: use the flags and what the config already has")
	fs.BoolVar(&o.noService, "no-service", false, "do not install or start the system service")
	return func(e *env, _ []string) error {
		o.in = os.Stdin
		if st, err := os.Stdin.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 && !o.yes {
			o.interactive = true
		}
		return runSetup(e, o)
	}
}

// ask prompts on a terminal; otherwise it returns def.
func (o *setupOptions) ask(e *env, r *bufio.Reader, question, def string) string {
	if !o.interactive {
		return def
	}
	fmt.Fprintf(e.stdout, "%s [%s]: ", question, def)
	line, _ := r.ReadString('\n')
	if line = strings.TrimSpace(line); line != "" {
		return line
	}
	return def
}

func runSetup(e *env, o *setupOptions) error {
	r := bufio.NewReader(o.in)
	var root yaml.Node
	data, err := os.ReadFile(o.cfgPath)
	fresh := errors.Is(err, os.ErrNotExist)
	switch {
	case fresh:
		data = []byte(setupTemplate)
		fmt.Fprintf(e.stdout, "No config at %s yet: making one.\n", o.cfgPath)
	case err != nil:
		return err
	default:
		cur, err := config.Load(o.cfgPath)
		if err != nil {
			return fmt.Errorf("the existing config does not load; fix it first: %w", err)
		}
		fmt.Fprintf(e.stdout, "Current settings (%s):\n  public name: %s\n  WireGuard port: UDP %d\n  router port mapping: %v\n",
			o.cfgPath, cur.Tunnel.Endpoint, cur.ListenPort(), cur.Portmap.Enabled)
		for _, s := range cur.Services {
			fmt.Fprintf(e.stdout, "  service %s -> %s\n", s.Name, s.Upstream)
		}
	}
	if err := yaml.Unmarshal(data, &root); err != nil {
		return fmt.Errorf("%s: %w", o.cfgPath, err)
	}
	doc := root.Content[0]
	// Upstream: ask, check, and look for a CodeMeter server nearby.
	upstream := o.upstream
	if upstream == "" && fresh {
		upstream = o.ask(e, r, "License server (host:port)", findCodeMeter(e))
	}
	if upstream != "" {
		if _, _, err := net.SplitHostPort(upstream); err != nil {
			upstream = net.JoinHostPort(upstream, "22350")
		}
		if err := checkUpstream(upstream); err != nil {
			fmt.Fprintf(e.stdout, "WARNING: %s does not answer: %v\n  (licgate will keep trying; check the address, the server and its firewall)\n", upstream, err)
		} else {
			fmt.Fprintf(e.stdout, "License server %s answers.\n", upstream)
		}
		setYAML(doc, upstream, "services", "0", "upstream")
	}
	name := o.publicName
	if name == "" && fresh {
		name = o.ask(e, r, "The office's public name or address (home devices connect to it)", "")
	}
	if name != "" {
		setYAML(doc, name, "tunnel", "endpoint")
	}
	if o.stateDir != "" {
		setYAML(doc, o.stateDir, "state_dir")
	}
	if o.port != 0 {
		setYAML(doc, strconv.Itoa(o.port), "tunnel", "listen_port")
	}
	pm := o.portmap
	if pm == "" && fresh && o.interactive {
		pm = map[string]string{"y": "on", "yes": "on"}[strings.ToLower(o.ask(e, r, "Open the port on the router by UPnP/NAT-PMP (y/n)", "y"))]
		if pm == "" {
			pm = "off"
		}
	}
	switch pm {
	case "on", "off":
		setYAML(doc, strconv.FormatBool(pm == "on"), "portmap", "enabled")
	case "":
	default:
		return usagef("--portmap on or off, not %q", pm)
	}
	if o.publicListen != "" {
		setYAML(doc, o.publicListen, "public", "listen")
		if name != "" {
			setYAML(doc, name, "public", "name")
		}
	}
	for _, kv := range [][2]string{{"host", o.smtpHost}, {"from", o.smtpFrom}, {"security", o.smtpSecurity}, {"user", o.smtpUser}, {"password_file", o.smtpPassFile}} {
		if kv[1] != "" {
			setYAML(doc, kv[1], "smtp", kv[0])
		}
	}
	if o.smtpPort != 0 {
		setYAML(doc, strconv.Itoa(o.smtpPort), "smtp", "port")
	}
	if o.admin != "" {
		if err := store.ValidName(o.admin); err != nil {
			return fmt.Errorf("--admin: %w", err)
		}
		addMember(doc, o.admin, "policy", "groups", "admins")
	}
	out, err := yaml.Marshal(&root)
	if err != nil {
		return err
	}
	// Validate before writing: a config that would not load is never left behind.
	cfg, err := config.Parse(o.cfgPath, out)
	if err != nil {
		return fmt.Errorf("the config would not load (nothing written): %w", err)
	}
	if cfg.Tunnel.Endpoint == "" || cfg.Services[0].Upstream == "" {
		return errors.New("setup needs the license server (--upstream) and the public name (--public-name)")
	}
	if err := atomicfile.Write(o.cfgPath, out, 0o640); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Config written: %s\n", o.cfgPath)
	if !o.noService {
		m, err := service.New(service.Config{Args: []string{"serve", "-c", o.cfgPath}})
		if err == nil {
			err = m.Install(e.ctx)
		}
		if err != nil {
			fmt.Fprintf(e.stdout, "The service was not installed: %v\n  Start it yourself: licgate serve -c %s\n", err, o.cfgPath)
		} else {
			fmt.Fprintln(e.stdout, "Service installed and started.")
		}
	}
	c := adminapi.NewClient(cfg.Socket)
	wait := 20 * time.Second // the service was just started
	if o.noService && o.admin == "" {
		wait = 0 // nothing here needs the daemon
	}
	running := waitDaemon(e.ctx, c, wait) == nil
	if running {
		if _, err := c.Reload(e.ctx); err != nil {
			fmt.Fprintf(e.stdout, "Reload: %v\n", err)
		}
	}
	if o.admin != "" {
		if !running {
			return fmt.Errorf("the daemon is not running on %s: start it, then run setup --admin %s again", cfg.Socket, o.admin)
		}
		if err := enrolAdmin(e, c, o); err != nil {
			return err
		}
	}
	// What a person still has to do.
	fmt.Fprintln(e.stdout, "\nLeft to do:")
	if !cfg.Portmap.Enabled {
		fmt.Fprintf(e.stdout, "  - forward UDP %d on the office router to this machine (or: licgate setup --portmap on)\n", cfg.ListenPort())
	}
	if cfg.Public.Listen != "" {
		if _, port, err := net.SplitHostPort(cfg.Public.Listen); err == nil {
			fmt.Fprintf(e.stdout, "  - forward TCP %s on the office router to this machine: the enrolment links open there (the port mapping covers only WireGuard's UDP port)\n", port)
		}
	}
	switch {
	case cfg.Public.Listen == "":
		fmt.Fprintln(e.stdout, "  - to invite people by e-mail: setup --public-listen :443 --smtp-host HOST --smtp-from ADDR, then licgate invite --all")
	case cfg.SMTP.Host == "":
		fmt.Fprintln(e.stdout, "  - to send the links by e-mail: setup --smtp-host HOST --smtp-from ADDR (without it, licgate invite prints them)")
		fmt.Fprintln(e.stdout, "  - add users (licgate user import users.csv), then: licgate invite --all")
	default:
		fmt.Fprintln(e.stdout, "  - add users (licgate user import users.csv), then: licgate invite --all")
	}
	fmt.Fprintln(e.stdout, "  - check everything: licgate doctor")
	return nil
}

func enrolAdmin(e *env, c *adminapi.Client, o *setupOptions) error {
	if _, err := c.AddUser(e.ctx, adminapi.AddUserRequest{Name: o.admin}); err != nil {
		var se *adminapi.APIStatusError
		if !errors.As(err, &se) || se.Status != 409 {
			return err
		}
	}
	devs, err := c.Devices(e.ctx, false)
	if err != nil {
		return err
	}
	for _, d := range devs {
		if d.User == o.admin && d.Name == o.device {
			fmt.Fprintf(e.stdout, "Admin %s already has device %s.\n", o.admin, o.device)
			return nil
		}
	}
	prefix := o.out
	if prefix == "" {
		prefix = o.admin + "-" + o.device
	}
	args := []string{"device", "add", o.admin, o.device, "--out", prefix, "-socket", c.Socket}
	if code := run(args, e.stdout, e.stderr); code != 0 {
		return fmt.Errorf("enrolling %s/%s failed", o.admin, o.device)
	}
	fmt.Fprintf(e.stdout, "Admin %s enrolled: import %s.conf in the WireGuard app; the console is at https://10.44.0.1/\n", o.admin, filepath.Base(prefix))
	return nil
}

// waitDaemon waits until the daemon answers (the service was just
// started) or d passes.
func waitDaemon(ctx context.Context, c *adminapi.Client, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		_, err := c.Health(ctx)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func checkUpstream(hostport string) error {
	c, err := net.DialTimeout("tcp", hostport, 3*time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// findCodeMeter looks for a CodeMeter server on this machine: on
// 127.0.0.1 and on each of its own LAN addresses.
func findCodeMeter(e *env) string {
	cands := []string{"127.0.0.1:22350"}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && p.Addr().IsPrivate() {
				cands = append(cands, net.JoinHostPort(p.Addr().String(), "22350"))
			}
		}
	}
	for _, c := range cands {
		if checkUpstream(c) == nil {
			fmt.Fprintf(e.stdout, "Found a CodeMeter server at %s.\n", c)
			return c
		}
	}
	return ""
}

// setYAML sets the scalar at path (map keys; list indexes as numbers),
// creating mappings on the way; comments elsewhere stay.
func setYAML(n *yaml.Node, value string, path ...string) {
	for i, key := range path {
		last := i == len(path)-1
		if n.Kind == yaml.SequenceNode {
			idx, _ := strconv.Atoi(key)
			for len(n.Content) <= idx {
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"})
			}
			n = n.Content[idx]
			continue
		}
		var child *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == key {
				child = n.Content[j+1]
			}
		}
		if child == nil {
			child = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			if last {
				child = &yaml.Node{Kind: yaml.ScalarNode}
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key, Tag: "!!str"}, child)
		}
		if last {
			child.Kind, child.Value, child.Tag, child.Style = yaml.ScalarNode, value, "", 0
			child.Content = nil
			return
		}
		if child.Kind == yaml.ScalarNode && child.Value == "" { // "key:" with nothing: becomes a mapping
			child.Kind, child.Tag = yaml.MappingNode, "!!map"
		}
		n = child
	}
}

// addMember adds name to the flow or block list at path, once.
func addMember(n *yaml.Node, name string, path ...string) {
	setYAMLList(n, path)
	for _, key := range path {
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == key {
				n = n.Content[j+1]
				break
			}
		}
	}
	if n.Kind == yaml.MappingNode { // {members: [...], max_sessions: N}
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == "members" {
				n = n.Content[j+1]
			}
		}
	}
	for _, c := range n.Content {
		if c.Value == name {
			return
		}
	}
	n.Kind = yaml.SequenceNode
	n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: name})
}

// setYAMLList makes sure a list exists at path.
func setYAMLList(n *yaml.Node, path []string) {
	for i, key := range path {
		var child *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == key {
				child = n.Content[j+1]
			}
		}
		if child == nil {
			kind := yaml.MappingNode
			if i == len(path)-1 {
				kind = yaml.SequenceNode
			}
			child = &yaml.Node{Kind: kind, Style: yaml.FlowStyle}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, child)
		}
		n = child
	}
}
