package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/licgate/licgate/licmgr"
)

// ServiceType is the license-manager side of a service (services[].type
// and its companions), inline in ServiceConfig. See docs/license-servers.md.
type ServiceType struct {
	// Type names the license manager: codemeter, flexnet, rlm,
	// sentinel-ldk, sentinel-rms or generic. It expands the service to
	// every port of the manager (FlexNet: lmgrd and each vendor daemon;
	// RLM: rlm and each ISV server), with caps counted on the ports that
	// hold seats. If empty, the service is the one port given (as generic).
	// With a type, port defaults to the manager's main port (for flexnet,
	// unset means lmgrd's range 27000-27009).
	Type string `yaml:"type"`
	// Daemons are FlexNet vendor daemons or RLM ISV servers with their
	// pinned ports (the VENDOR line's PORT=, the ISV line's port=). If
	// empty and LicenseFile is set, they are read from the license file.
	Daemons []DaemonConfig `yaml:"daemons"`
	// LicenseFile is the manager's license file (flexnet, rlm), relative
	// to this config file: read at load for the daemons' ports, linted by
	// `licgate license lint` and `licgate doctor`. If empty, none.
	LicenseFile string `yaml:"license_file"`
	// AdminPorts also forwards the manager's own web administration (RLM
	// 5054, CodeMeter WebAdmin 22352 and 22353, Sentinel LDK's Admin
	// Control Center on 1947) to those the policy lets use the service. If
	// false (the default), home users cannot reach them.
	AdminPorts bool `yaml:"admin_ports"`

	// Ports are the service's ports, expanded at load (one entry for a
	// service without a type). The gateway listens on each, on the gateway
	// address, and dials the upstream host at the same port number.
	Ports []licmgr.Port `yaml:"-"`
	// LicenseFindings are the license file's lint findings at load.
	LicenseFindings []licmgr.Finding `yaml:"-"`
}

// DaemonConfig is one vendor daemon or ISV server and its pinned port.
type DaemonConfig struct {
	Name string `yaml:"name"`
	Port int    `yaml:"port"`
}

// Kind is the service's license manager (generic when no type is given).
func (s ServiceType) Kind() licmgr.Kind {
	if s.Type == "" {
		return licmgr.Generic
	}
	return licmgr.Kind(s.Type)
}

// LicenseFilePath is LicenseFile resolved against the config file's
// directory ("" when none is set).
func (c *Config) LicenseFilePath(s ServiceConfig) string {
	if s.LicenseFile == "" || filepath.IsAbs(s.LicenseFile) {
		return s.LicenseFile
	}
	return filepath.Join(filepath.Dir(c.file), s.LicenseFile)
}

// applyServiceType expands services[i].type before the common checks:
// it fills in the main port and protocols and the service's Ports.
func (c *Config) applyServiceType(i int) error {
	s := &c.Services[i]
	p := "services." + strconv.Itoa(i)
	if s.Type == "" {
		switch {
		case len(s.Daemons) > 0:
			return c.at(p+".daemons", "daemons need a type: flexnet (vendor daemons) or rlm (ISV servers)")
		case s.LicenseFile != "":
			return c.at(p+".license_file", "a license file needs a type: flexnet or rlm")
		case s.AdminPorts:
			return c.at(p+".admin_ports", "admin_ports needs a type (codemeter, rlm, sentinel-ldk)")
		}
		return nil
	}
	kind, err := licmgr.ParseKind(s.Type)
	if err != nil {
		names := make([]string, len(licmgr.Kinds))
		for k, n := range licmgr.Kinds {
			names[k] = string(n)
		}
		return c.at(p+".type", "%q is not one of %s", s.Type, strings.Join(names, ", "))
	}
	s.Type = string(kind)
	var daemons []licmgr.Daemon
	for k, d := range s.Daemons {
		dp := p + ".daemons." + strconv.Itoa(k)
		if d.Name == "" {
			return c.at(dp+".name", "missing: the vendor daemon's or ISV server's name")
		}
		if d.Port < 1 || d.Port > 65535 {
			return c.at(dp+".port", "%d is not a port (1-65535): pin the daemon's port in the license file and give it here", d.Port)
		}
		daemons = append(daemons, licmgr.Daemon{Name: d.Name, Port: d.Port})
	}
	if s.LicenseFile != "" {
		if kind != licmgr.FlexNet && kind != licmgr.RLM {
			return c.at(p+".license_file", "license files are read for flexnet and rlm, not %s", kind)
		}
		findings, lf, err := licmgr.LintFile(c.LicenseFilePath(*s), licmgr.LintOptions{Manager: kind})
		if err != nil {
			return c.at(p+".license_file", "%v", err)
		}
		s.LicenseFindings = findings
		for _, f := range findings {
			if f.Severity == licmgr.SevError && len(s.Daemons) == 0 {
				return c.at(p+".license_file", "%s", f)
			}
			c.warns = append(c.warns, p+".license_file: "+f.String())
		}
		if len(daemons) == 0 {
			daemons = lf.PinnedDaemons()
		}
		if s.Port == 0 {
			s.Port = lf.ServerPort()
		}
	}
	ports, err := licmgr.Expand(kind, licmgr.Options{Port: s.Port, Protocols: s.Protocols, Daemons: daemons, Admin: s.AdminPorts})
	if err != nil {
		key := p + ".type" // no daemons given: the type is what asks for them
		if len(s.Daemons) > 0 && (errors.Is(err, licmgr.ErrUnpinned) || errors.Is(err, licmgr.ErrPort)) {
			key = p + ".daemons"
		}
		return c.at(key, "%s", strings.TrimPrefix(err.Error(), "licmgr: "))
	}
	s.Ports = ports
	if s.Port == 0 {
		s.Port = ports[0].Port
	}
	if len(s.Protocols) == 0 {
		s.Protocols = slices.Clone(ports[0].Protocols)
	}
	return nil
}

// finishServiceTypes gives untyped services their one port and refuses a
// port two services would both listen on (the main ports were checked
// with the common checks; this covers every expanded one).
func (c *Config) finishServiceTypes() error {
	owner := map[string]int{}
	for i := range c.Services {
		s := &c.Services[i]
		if s.Type == "" {
			s.Ports = []licmgr.Port{{Name: "license", Port: s.Port, Protocols: slices.Clone(s.Protocols), Role: licmgr.RoleLicense, HoldsSeats: true}}
		}
		for _, pt := range s.Ports {
			for _, pr := range pt.Protocols {
				key := fmt.Sprintf("%s/%d", pr, pt.Port)
				if j, dup := owner[key]; dup && j != i {
					return c.at("services."+strconv.Itoa(i)+".type", "%s port %d (%s) is already used by services.%d (%s)", pr, pt.Port, pt.Name, j, c.Services[j].Name)
				}
				owner[key] = i
			}
		}
	}
	return nil
}
