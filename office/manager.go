package office

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/licgate/licgate/bundle"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/licmgr"
)

// setupManager settles the service's license manager: --manager, the
// question (a fresh config in a terminal; CodeMeter by default), or what
// the config already says. For FlexNet and RLM it reads the license file
// (--license-file or the question) and lints it. It writes type and
// license_file into services[0] and, for a manager other than CodeMeter,
// drops the template's CodeMeter port and protocols (the profile fills in
// the manager's own). An error-level finding (a vendor daemon without a
// pinned port) stops setup: the config would not load, and the finding's
// corrected line says what to write.
func setupManager(doc *yaml.Node, o *SetupOptions, r *bufio.Reader, fresh bool) (licmgr.Kind, []licmgr.Finding, error) {
	svc := yamlAt(doc, "services")
	var cur *yaml.Node
	if svc != nil && svc.Kind == yaml.SequenceNode && len(svc.Content) > 0 {
		cur = svc.Content[0]
	}
	name := o.Manager
	if name == "" && cur != nil {
		if t := yamlAt(cur, "type"); t != nil {
			name = t.Value
		}
	}
	if name == "" && fresh && o.Interactive {
		names := make([]string, len(licmgr.Kinds))
		for i, k := range licmgr.Kinds {
			names[i] = string(k)
		}
		name = o.ask(r, "License manager ("+strings.Join(names, ", ")+")", string(licmgr.CodeMeter))
	}
	if name == "" {
		return "", nil, nil // an existing config without a type: left as it is
	}
	kind, err := licmgr.ParseKind(name)
	if err != nil {
		return "", nil, fmt.Errorf("%w: --manager: %v", ErrUsage, strings.TrimPrefix(err.Error(), "licmgr: "))
	}
	SetYAML(doc, string(kind), "services", "0", "type")
	if kind != licmgr.CodeMeter && kind != licmgr.Generic && fresh {
		SetYAML(doc, string(kind), "services", "0", "name")
		deleteYAML(doc, "services", "0", "port")
		deleteYAML(doc, "services", "0", "protocols")
	}
	if kind != licmgr.FlexNet && kind != licmgr.RLM {
		if o.LicenseFile != "" {
			return "", nil, fmt.Errorf("%w: --license-file is for flexnet and rlm, not %s", ErrUsage, kind)
		}
		return kind, nil, nil
	}
	file := o.LicenseFile
	if file == "" && cur != nil {
		if f := yamlAt(cur, "license_file"); f != nil {
			file = f.Value
		}
	}
	if file == "" {
		file = o.ask(r, "The license server's license file (its VENDOR/ISV lines give the ports to forward)", "")
	}
	if file == "" {
		return kind, nil, fmt.Errorf("%w: a %s service needs its license file (--license-file FILE): the vendor daemons' ports are in it", ErrUsage, kind)
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return kind, nil, fmt.Errorf("office: license file %s: %w", file, err)
	}
	findings, lf, err := licmgr.LintFile(abs, licmgr.LintOptions{Manager: kind})
	if err != nil {
		return kind, nil, fmt.Errorf("license file: %w", err)
	}
	fmt.Fprintf(o.Stdout, "License file %s: %d finding(s).\n", abs, len(findings))
	var bad []string
	for _, f := range findings {
		if f.Severity == licmgr.SevError {
			bad = append(bad, f.String())
		}
	}
	if len(bad) > 0 {
		return kind, findings, fmt.Errorf("the license file must change before licgate can forward it (nothing written):\n  %s\nthen restart the license manager and run setup again",
			strings.Join(bad, "\n  "))
	}
	SetYAML(doc, abs, "services", "0", "license_file")
	o.serverPort = lf.ServerPort()
	return kind, findings, nil
}

// bundleLicenses are the config's license managers as the home helpers
// point applications at them.
func bundleLicenses(cfg *config.Config) []bundle.License {
	var out []bundle.License
	for _, s := range cfg.Services {
		out = append(out, bundle.LicenseFor(s.Settings.Kind(), s.Settings.Ports))
	}
	return out
}

// defaultPort is the upstream's port when --upstream has none: the
// license file's server port, or the manager's main port.
func defaultPort(kind licmgr.Kind, fromFile int) int {
	if fromFile != 0 {
		return fromFile
	}
	switch kind {
	case licmgr.FlexNet:
		return licmgr.LmgrdFirstPort
	case licmgr.RLM:
		return licmgr.RLMPort
	case licmgr.SentinelLDK:
		return licmgr.LDKPort
	case licmgr.SentinelRMS:
		return licmgr.RMSPort
	}
	return licmgr.CodeMeterPort
}

// probeResult is one port's answer.
type probeResult struct {
	Port  licmgr.Port
	Proto string
	// OK: TCP connected, or UDP got no refusal within the wait (open, or
	// filtered: UDP cannot tell). Err says why not.
	OK  bool
	Err error
}

// probePorts checks each of a manager's ports on host: TCP by
// connecting, UDP by sending an empty datagram and listening for the
// ICMP refusal a closed port sends back (connected UDP sockets report it
// as ECONNREFUSED on the next read). FlexNet's lmgrd range (no port in
// the license file) is probed too; only one of it needs to answer.
func probePorts(host string, ports []licmgr.Port, wait time.Duration) []probeResult {
	var out []probeResult
	for _, p := range ports {
		for _, proto := range p.Protocols {
			addr := net.JoinHostPort(host, strconv.Itoa(p.Port))
			res := probeResult{Port: p, Proto: proto}
			if proto == "tcp" {
				c, err := net.DialTimeout("tcp", addr, wait)
				if err == nil {
					c.Close()
				}
				res.OK, res.Err = err == nil, err
			} else {
				res.OK, res.Err = probeUDP(addr, wait)
			}
			out = append(out, res)
		}
	}
	return out
}

func probeUDP(addr string, wait time.Duration) (bool, error) {
	c, err := net.DialTimeout("udp", addr, wait)
	if err != nil {
		return false, err
	}
	defer c.Close()
	if _, err := c.Write([]byte{0}); err != nil {
		return false, err
	}
	c.SetReadDeadline(time.Now().Add(wait))
	_, err = c.Read(make([]byte, 1500))
	var ne net.Error
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ne) && ne.Timeout():
		return true, nil // no refusal: open, or a firewall drops it
	case errors.Is(err, syscall.ECONNREFUSED):
		return false, errors.New("refused (nothing listens there)")
	}
	return false, err
}

// reportProbes prints each port's answer and returns what is left to do.
func reportProbes(w io.Writer, host string, res []probeResult) []string {
	var todo []string
	lmgrdOK, lmgrdRange := false, 0
	for _, r := range res {
		if r.Port.Name == "lmgrd" {
			lmgrdRange++
			lmgrdOK = lmgrdOK || r.OK
		}
	}
	for _, r := range res {
		if r.Port.Name == "lmgrd" && lmgrdRange > 1 {
			if r.OK {
				fmt.Fprintf(w, "  lmgrd %d/tcp: answers\n", r.Port.Port)
			}
			continue
		}
		what := fmt.Sprintf("%s %d/%s", r.Port.Name, r.Port.Port, r.Proto)
		switch {
		case r.OK && r.Proto == "udp":
			fmt.Fprintf(w, "  %s: no refusal (open, or a firewall drops the probe)\n", what)
		case r.OK:
			fmt.Fprintf(w, "  %s: answers\n", what)
		default:
			fmt.Fprintf(w, "  %s: NO ANSWER: %v\n", what, r.Err)
			todo = append(todo, fmt.Sprintf("the license server %s does not answer on %s (%s): start it, or open the port in its firewall", host, what, r.Port.Role))
		}
	}
	if lmgrdRange > 1 && !lmgrdOK {
		todo = append(todo, fmt.Sprintf("no lmgrd answers on %s in %d-%d: start the license server, or give its SERVER line's port", host, licmgr.LmgrdFirstPort, licmgr.LmgrdLastPort))
	}
	return todo
}

// probeService probes the first service's ports (after the config is
// parsed, so the profile's ports are known) and says what answers.
func probeService(w io.Writer, upstream string, ports []licmgr.Port) []string {
	host, _, err := net.SplitHostPort(upstream)
	if err != nil {
		host = upstream
	}
	if len(ports) == 0 {
		return nil
	}
	fmt.Fprintf(w, "Ports of the license server %s:\n", host)
	return reportProbes(w, host, probePorts(host, ports, 2*time.Second))
}

// findingTodos are the license file's warnings for "left to do", each
// with its corrected line.
func findingTodos(findings []licmgr.Finding) []string {
	var out []string
	for _, f := range findings {
		s := fmt.Sprintf("license file %s:%d: %s", f.File, f.Line, f.Message)
		if f.Fix != "" {
			s += "\n      change the line to: " + f.Fix
		}
		out = append(out, s)
	}
	return out
}

// deleteYAML removes the key at path (map keys; list indexes as numbers).
func deleteYAML(n *yaml.Node, path ...string) {
	for i, key := range path {
		if n.Kind == yaml.SequenceNode {
			idx, err := strconv.Atoi(key)
			if err != nil || idx >= len(n.Content) {
				return
			}
			n = n.Content[idx]
			continue
		}
		j := 0
		for j+1 < len(n.Content) && n.Content[j].Value != key {
			j += 2
		}
		switch {
		case j+1 >= len(n.Content):
			return // not there
		case i == len(path)-1:
			n.Content = slices.Delete(n.Content, j, j+2)
			return
		}
		n = n.Content[j+1]
	}
}
