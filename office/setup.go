package office

import (
	"bufio"
	"context"
	"errors"
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
	"github.com/licgate/licgate/bundle"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/licmgr"
	"github.com/licgate/licgate/service"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/tunnel"
)

// setupMark is in every config setup wrote or took over: a later setup
// leaves its policy alone.
const setupMark = "by `licgate setup`"

// setupPolicy is the policy setup promises (docs/install.md): admins and
// staff, both allowed to every service.
const setupPolicy = `groups:
  admins: []              # may also use the admin console at https://10.44.0.1/
  staff: []               # add users here (or licgate user import FILE.csv)
rules:
  - {name: admins, action: allow, who: [group:admins]}
  - {name: staff, action: allow, who: [group:staff]}
`

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

type SetupOptions struct {
	// ConfigPath is the config file to write (or change).
	ConfigPath string
	// Upstream is the license server (host[:port], default port 22350);
	// PublicName the office's public name or address; Port WireGuard's
	// UDP port; Portmap "on", "off" or "" (unchanged); StateDir and
	// PublicListen set those keys when not empty.
	Upstream, PublicName, StateDir, PublicListen, Portmap string
	Port                                                  int
	// SMTP settings for invitations (the smtp: block), when not empty.
	SMTPHost, SMTPFrom, SMTPSecurity, SMTPUser, SMTPPasswordFile string
	SMTPPort                                                     int
	// Manager is the license manager (licmgr.Kinds: codemeter, flexnet,
	// rlm, sentinel-ldk, sentinel-rms, generic); if empty, asked on a
	// fresh config in a terminal (CodeMeter by default), else what the
	// config has. LicenseFile is the FlexNet or RLM license file: linted,
	// and its VENDOR/ISV lines give the ports; if empty, asked.
	Manager, LicenseFile string
	serverPort           int // the license file's SERVER/HOST port, once read
	// Admin is enrolled as the first admin with device Device; the bundle
	// goes to Out (default ./ADMIN-DEVICE).
	Admin, Device, Out string
	// Yes: no questions; NoService: do not install the system service.
	Yes, NoService bool
	// In answers the questions when Interactive.
	In          io.Reader
	Interactive bool
	// Stdout gets what setup did and what is left to do.
	Stdout io.Writer
}

// ask prompts on a terminal; otherwise it returns def.
func (o *SetupOptions) ask(r *bufio.Reader, question, def string) string {
	if !o.Interactive {
		return def
	}
	fmt.Fprintf(o.Stdout, "%s [%s]: ", question, def)
	line, _ := r.ReadString('\n')
	if line = strings.TrimSpace(line); line != "" {
		return line
	}
	return def
}

// addSetupPolicy adds the groups admins and staff to the inline policy
// of a config setup did not write, each with an allow rule ahead of the
// existing rules (first match wins), unless it has them already; and
// marks the config as taken over.
func addSetupPolicy(doc *yaml.Node) error {
	if f := yamlAt(doc, "policy_file"); f != nil && f.Value != "" {
		return fmt.Errorf("the policy is in %s: add them there", f.Value)
	}
	var want yaml.Node
	if err := yaml.Unmarshal([]byte(setupPolicy), &want); err != nil {
		return err
	}
	wantGroups, wantRules := yamlAt(want.Content[0], "groups"), yamlAt(want.Content[0], "rules")
	pol := yamlAt(doc, "policy")
	if pol == nil {
		pol = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "policy"}, pol)
	}
	if pol.Kind != yaml.MappingNode {
		return errors.New("policy: is not a mapping")
	}
	groups := yamlAt(pol, "groups")
	if groups == nil || groups.Kind != yaml.MappingNode {
		pol.Content = append(pol.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "groups"}, &yaml.Node{Kind: yaml.MappingNode})
		groups = pol.Content[len(pol.Content)-1]
	}
	rules := yamlAt(pol, "rules")
	if rules == nil || rules.Kind != yaml.SequenceNode {
		pol.Content = append(pol.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "rules"}, &yaml.Node{Kind: yaml.SequenceNode})
		rules = pol.Content[len(pol.Content)-1]
	}
	var add []*yaml.Node
	for i, name := range []string{"admins", "staff"} {
		if yamlAt(groups, name) == nil {
			groups.Content = append(groups.Content, wantGroups.Content[2*i], wantGroups.Content[2*i+1])
		}
		if !ruleFor(rules, "group:"+name) {
			add = append(add, wantRules.Content[i])
		}
	}
	rules.Content = append(add, rules.Content...)
	if len(add) > 0 {
		add[0].HeadComment = "Added " + setupMark + ": admins and staff may obtain licenses."
	}
	doc.HeadComment = strings.TrimSpace(doc.HeadComment + "\n# Taken over " + setupMark + " (its policy groups admins and staff).")
	return nil
}

// ruleFor reports whether a rule names who (e.g. group:staff).
func ruleFor(rules *yaml.Node, who string) bool {
	for _, r := range rules.Content {
		if w := yamlAt(r, "who"); w != nil {
			for _, c := range w.Content {
				if c.Value == who {
					return true
				}
			}
		}
	}
	return false
}

// ErrUsage marks a wrong option (the CLI exits 2).
var ErrUsage = errors.New("usage")

// Setup writes (or changes) the config, installs the service, reloads the
// daemon, enrols the first admin, and says what is left to do.
func Setup(ctx context.Context, o *SetupOptions) error {
	if pm := o.Portmap; pm != "" && pm != "on" && pm != "off" {
		return fmt.Errorf("%w: --portmap on or off, not %q", ErrUsage, pm) // before anything is read or said
	}
	r := bufio.NewReader(o.In)
	var root yaml.Node
	data, err := os.ReadFile(o.ConfigPath)
	fresh := errors.Is(err, os.ErrNotExist)
	switch {
	case fresh:
		data = []byte(setupTemplate)
		fmt.Fprintf(o.Stdout, "No config at %s yet: making one.\n", o.ConfigPath)
	case err != nil:
		return err
	default:
		cur, err := config.Load(o.ConfigPath)
		if err != nil {
			return fmt.Errorf("the existing config does not load; fix it first: %w", err)
		}
		fmt.Fprintf(o.Stdout, "Current settings (%s):\n  public name: %s\n  WireGuard port: UDP %d\n  router port mapping: %v\n",
			o.ConfigPath, cur.Tunnel.Endpoint, cur.ListenPort(), cur.Portmap.Enabled)
		for _, s := range cur.Services {
			fmt.Fprintf(o.Stdout, "  service %s -> %s\n", s.Name, s.Upstream)
		}
	}
	if err := yaml.Unmarshal(data, &root); err != nil {
		return fmt.Errorf("%s: %w", o.ConfigPath, err)
	}
	doc := root.Content[0]
	kind, findings, err := setupManager(doc, o, r, fresh)
	if err != nil {
		return err
	}
	// Upstream: ask, check, and look for a CodeMeter server nearby.
	upstream := o.Upstream
	if upstream == "" && fresh {
		def := ""
		if kind == "" || kind == licmgr.CodeMeter {
			def = findCodeMeter(o.Stdout)
		}
		upstream = o.ask(r, "License server (host:port)", def)
	}
	if upstream != "" {
		if _, _, err := net.SplitHostPort(upstream); err != nil {
			upstream = net.JoinHostPort(upstream, strconv.Itoa(defaultPort(kind, o.serverPort)))
		}
		// A typed service has every port probed once the config is
		// parsed (probeService); an untyped one its upstream here.
		if kind == "" || kind == licmgr.CodeMeter {
			if err := checkUpstream(upstream); err != nil {
				fmt.Fprintf(o.Stdout, "WARNING: %s does not answer: %v\n  (licgate will keep trying; check the address, the server and its firewall)\n", upstream, err)
			} else {
				fmt.Fprintf(o.Stdout, "License server %s answers.\n", upstream)
			}
		}
		SetYAML(doc, upstream, "services", "0", "upstream")
	}
	name := o.PublicName
	if name == "" && fresh {
		name = o.ask(r, "The office's public name or address (home devices connect to it)", "")
	}
	if name != "" {
		SetYAML(doc, name, "tunnel", "endpoint")
	}
	if o.StateDir != "" {
		SetYAML(doc, o.StateDir, "state_dir")
	}
	if o.Port != 0 {
		SetYAML(doc, strconv.Itoa(o.Port), "tunnel", "listen_port")
	}
	pm := o.Portmap
	if pm == "" && fresh && o.Interactive {
		pm = map[string]string{"y": "on", "yes": "on"}[strings.ToLower(o.ask(r, "Open the port on the router by UPnP/NAT-PMP (y/n)", "y"))]
		if pm == "" {
			pm = "off"
		}
	}
	switch pm {
	case "on", "off":
		SetYAML(doc, strconv.FormatBool(pm == "on"), "portmap", "enabled")
	case "":
	default:
		return fmt.Errorf("%w: --portmap on or off, not %q", ErrUsage, pm)
	}
	if o.PublicListen != "" {
		SetYAML(doc, o.PublicListen, "public", "listen")
		if name != "" {
			SetYAML(doc, name, "public", "name")
		}
	}
	for _, kv := range [][2]string{{"host", o.SMTPHost}, {"from", o.SMTPFrom}, {"security", o.SMTPSecurity}, {"user", o.SMTPUser}, {"password_file", o.SMTPPasswordFile}} {
		if kv[1] != "" {
			SetYAML(doc, kv[1], "smtp", kv[0])
		}
	}
	if o.SMTPPort != 0 {
		SetYAML(doc, strconv.Itoa(o.SMTPPort), "smtp", "port")
	}
	if !fresh && !strings.Contains(string(data), setupMark) {
		// The first setup of a config it did not write (the package's
		// example): the admins and staff setup promises, both allowed.
		if err := addSetupPolicy(doc); err != nil {
			fmt.Fprintf(o.Stdout, "Groups admins and staff not added: %v\n", err)
		} else {
			fmt.Fprintln(o.Stdout, "Policy: groups admins and staff added, both allowed (licgate user import adds members).")
		}
	}
	if o.Admin != "" {
		if err := store.ValidName(o.Admin); err != nil {
			return fmt.Errorf("--admin: %w", err)
		}
		AddMember(doc, o.Admin, "policy", "groups", "admins")
	}
	out, err := marshalYAML(&root)
	if err != nil {
		return err
	}
	// Validate before writing: a config that would not load is never left behind.
	cfg, err := config.Parse(o.ConfigPath, out)
	if err != nil {
		return fmt.Errorf("the config would not load (nothing written): %w", err)
	}
	if cfg.Tunnel.Endpoint == "" || cfg.Services[0].Upstream == "" {
		return errors.New("setup needs the license server (--upstream) and the public name (--public-name)")
	}
	if err := writeConfig(o.ConfigPath, out); err != nil {
		return err
	}
	fmt.Fprintf(o.Stdout, "Config written: %s\n", o.ConfigPath)
	todo := probeService(o.Stdout, cfg.Services[0].Upstream, cfg.Services[0].Settings.Ports)
	todo = append(todo, findingTodos(findings)...)
	if !o.NoService {
		m, err := service.New(service.Config{Args: []string{"serve", "-c", o.ConfigPath}})
		if err == nil {
			err = m.Install(ctx)
		}
		if err != nil {
			fmt.Fprintf(o.Stdout, "The service was not installed: %v\n  Start it yourself: licgate serve -c %s\n", err, o.ConfigPath)
		} else {
			fmt.Fprintln(o.Stdout, "Service installed and started.")
		}
	}
	c := adminapi.NewClient(cfg.Socket)
	wait := 20 * time.Second // the service was just started
	if o.NoService && o.Admin == "" {
		wait = 0 // nothing here needs the daemon
	}
	running := waitDaemon(ctx, c, wait) == nil
	if running {
		if _, err := c.Reload(ctx); err != nil {
			fmt.Fprintf(o.Stdout, "Reload: %v\n", err)
		}
	}
	if o.Admin != "" {
		if !running {
			return fmt.Errorf("the daemon is not running on %s: start it, then run setup --admin %s again", cfg.Socket, o.Admin)
		}
		if err := enrolAdmin(ctx, c, o, bundleLicenses(cfg)); err != nil {
			return err
		}
	}
	// What a person still has to do.
	fmt.Fprintln(o.Stdout, "\nLeft to do:")
	for _, t := range todo {
		fmt.Fprintf(o.Stdout, "  - %s\n", t)
	}
	if !cfg.Portmap.Enabled {
		fmt.Fprintf(o.Stdout, "  - forward UDP %d on the office router to this machine (or: licgate setup --portmap on)\n", cfg.ListenPort())
	}
	if cfg.Public.Listen != "" && !cfg.Portmap.Enabled {
		if _, port, err := net.SplitHostPort(cfg.Public.Listen); err == nil {
			fmt.Fprintf(o.Stdout, "  - forward TCP %s on the office router to this machine: the enrolment links open there (or: licgate setup --portmap on)\n", port)
		}
	}
	switch {
	case cfg.Public.Listen == "":
		fmt.Fprintln(o.Stdout, "  - to invite people by e-mail: setup --public-listen :443 --smtp-host HOST --smtp-from ADDR, then licgate invite --all")
	case cfg.SMTP.Host == "":
		fmt.Fprintln(o.Stdout, "  - to send the links by e-mail: setup --smtp-host HOST --smtp-from ADDR (without it, licgate invite prints them)")
		fmt.Fprintln(o.Stdout, "  - add users (licgate user import users.csv), then: licgate invite --all")
	default:
		fmt.Fprintln(o.Stdout, "  - add users (licgate user import users.csv), then: licgate invite --all")
	}
	fmt.Fprintln(o.Stdout, "  - check everything: licgate doctor")
	return nil
}

func enrolAdmin(ctx context.Context, c *adminapi.Client, o *SetupOptions, licenses []bundle.License) error {
	if _, err := c.AddUser(ctx, adminapi.AddUserRequest{Name: o.Admin}); err != nil {
		var se *adminapi.APIStatusError
		if !errors.As(err, &se) || se.Status != 409 {
			return err
		}
	}
	devs, err := c.Devices(ctx, false)
	if err != nil {
		return err
	}
	for _, d := range devs {
		if d.User == o.Admin && d.Name == o.Device {
			fmt.Fprintf(o.Stdout, "Admin %s already has device %s.\n", o.Admin, o.Device)
			return nil
		}
	}
	prefix := o.Out
	if prefix == "" {
		prefix = o.Admin + "-" + o.Device
	}
	res, err := c.AddDevice(ctx, adminapi.AddDeviceRequest{User: o.Admin, Name: o.Device})
	if err != nil {
		return fmt.Errorf("enrolling %s/%s: %w", o.Admin, o.Device, err)
	}
	p, err := tunnel.ParseProfile(res.ProfileText)
	if err != nil {
		return err
	}
	names, err := bundle.Write(prefix, p, licenses...)
	if err != nil {
		return fmt.Errorf("%w (the profile is the only copy of the key):\n%s", err, res.ProfileText)
	}
	fmt.Fprintf(o.Stdout, "wrote %s (they hold the device's private key)\n", strings.Join(names, ", "))
	fmt.Fprintf(o.Stdout, "Admin %s enrolled: import %s.conf in the WireGuard app; the console is at https://10.44.0.1/\n", o.Admin, filepath.Base(prefix))
	return nil
}

// waitDaemon waits until the daemon answers (the service was just
// started), d passes or ctx ends.
func waitDaemon(ctx context.Context, c *adminapi.Client, d time.Duration) error {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := c.Health(ctx)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("office: waiting for the daemon: %w", ctx.Err())
		case <-tick.C:
		}
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
func findCodeMeter(w io.Writer) string {
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
			fmt.Fprintf(w, "Found a CodeMeter server at %s.\n", c)
			return c
		}
	}
	return ""
}

// SetYAML sets the scalar at path (map keys; list indexes as numbers),
// creating mappings on the way; comments elsewhere stay.
func SetYAML(n *yaml.Node, value string, path ...string) {
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

// AddMember adds name to the flow or block list at path, once.
func AddMember(n *yaml.Node, name string, path ...string) {
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
