package licmgr

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Settings is the license-manager part of a licgate service as
// licgate.yaml writes it, inline in services[]: type, daemons,
// license_file, admin_ports. Package config parses it (file:line errors
// come from there); Resolve validates and expands it. See
// docs/license-servers.md.
type Settings struct {
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
	Daemons []DaemonSetting `yaml:"daemons"`
	// LicenseFile is the manager's license file (flexnet, rlm), relative
	// to the config file: read at load for the server's and daemons'
	// ports, linted by `licgate license lint` and `licgate doctor`. If
	// empty, none.
	LicenseFile string `yaml:"license_file"`
	// AdminPorts also forwards the manager's own web administration (RLM
	// 5054, CodeMeter WebAdmin 22352 and 22353, Sentinel LDK's Admin
	// Control Center on 1947) to those the policy lets use the service. If
	// false (the default), home users cannot reach them.
	AdminPorts bool `yaml:"admin_ports"`
	// ReconnectSilence: when a device opens a new seat connection to the
	// service, its earlier ones silent from the device this long are cut
	// (ReconnectRule), so a reconnecting client holds one seat, not two.
	// A duration ("10s", "2m"), or "off". If empty, 10s.
	ReconnectSilence string `yaml:"reconnect_silence"`

	// Ports are the service's ports after Resolve (nil for a service
	// without a type: its one port is the service's own). The gateway
	// listens on each at its tunnel address and dials the upstream host
	// at the same number (UpstreamFor).
	Ports []Port `yaml:"-"`
	// LicenseFindings are the license file's lint findings at Resolve.
	LicenseFindings []Finding `yaml:"-"`
	// Reconnect is ReconnectSilence resolved.
	Reconnect ReconnectRule `yaml:"-"`
}

// DaemonSetting is one vendor daemon or ISV server and its pinned port.
type DaemonSetting struct {
	Name string `yaml:"name"`
	Port int    `yaml:"port"`
}

// Kind is the service's license manager (Generic when no type is given).
func (s *Settings) Kind() Kind {
	if s.Type == "" {
		return Generic
	}
	return Kind(s.Type)
}

// SettingError is a problem with one key of Settings. Key is relative to
// the service ("type", "daemons.0.port", "license_file").
type SettingError struct {
	Key, Msg string
}

func (e *SettingError) Error() string { return e.Key + ": " + e.Msg }

func settingErr(key, format string, args ...any) error {
	return &SettingError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Resolve validates the settings and expands Ports. port and protocols
// are the service's own keys (zero and nil when not given); licensePath
// is LicenseFile resolved against the config file's directory. It returns
// the service's main port and protocols with the manager's defaults
// filled in, and warnings (the license file's, as "license_file: ...").
// Errors are *SettingError.
func (s *Settings) Resolve(port int, protocols []string, licensePath string) (mainPort int, mainProtocols []string, warnings []string, err error) {
	s.Ports, s.LicenseFindings = nil, nil
	switch s.ReconnectSilence {
	case "":
		s.Reconnect = ReconnectRule{}
	case "off":
		s.Reconnect = ReconnectRule{Off: true}
	default:
		d, err := time.ParseDuration(s.ReconnectSilence)
		if err != nil || d <= 0 {
			return 0, nil, nil, settingErr("reconnect_silence", "%q is not a duration above zero (\"10s\", \"2m\") or \"off\"", s.ReconnectSilence)
		}
		s.Reconnect = ReconnectRule{Silence: d}
	}
	if s.Type == "" {
		switch {
		case len(s.Daemons) > 0:
			return 0, nil, nil, settingErr("daemons", "daemons need a type: flexnet (vendor daemons) or rlm (ISV servers)")
		case s.LicenseFile != "":
			return 0, nil, nil, settingErr("license_file", "a license file needs a type: flexnet or rlm")
		case s.AdminPorts:
			return 0, nil, nil, settingErr("admin_ports", "admin_ports needs a type (codemeter, rlm, sentinel-ldk)")
		}
		return port, protocols, nil, nil
	}
	kind, err := ParseKind(s.Type)
	if err != nil {
		names := make([]string, len(Kinds))
		for i, k := range Kinds {
			names[i] = string(k)
		}
		return 0, nil, nil, settingErr("type", "%q is not one of %s", s.Type, strings.Join(names, ", "))
	}
	s.Type = string(kind)
	var daemons []Daemon
	for i, d := range s.Daemons {
		key := "daemons." + strconv.Itoa(i)
		if d.Name == "" {
			return 0, nil, nil, settingErr(key+".name", "missing: the vendor daemon's or ISV server's name")
		}
		if d.Port < 1 || d.Port > 65535 {
			return 0, nil, nil, settingErr(key+".port", "%d is not a port (1-65535): pin the daemon's port in the license file and give it here", d.Port)
		}
		daemons = append(daemons, Daemon{Name: d.Name, Port: d.Port})
	}
	if s.LicenseFile != "" {
		if kind != FlexNet && kind != RLM {
			return 0, nil, nil, settingErr("license_file", "license files are read for flexnet and rlm, not %s", kind)
		}
		findings, lf, err := LintFile(licensePath, LintOptions{Manager: kind})
		if err != nil {
			return 0, nil, nil, settingErr("license_file", "%v", err)
		}
		s.LicenseFindings = findings
		for _, f := range findings {
			if f.Severity == SevError && len(s.Daemons) == 0 {
				return 0, nil, nil, settingErr("license_file", "%s", f)
			}
			warnings = append(warnings, "license_file: "+f.String())
		}
		if len(daemons) == 0 {
			daemons = lf.PinnedDaemons()
		}
		if port == 0 {
			port = lf.ServerPort()
		}
	}
	ports, err := Expand(kind, Options{Port: port, Protocols: protocols, Daemons: daemons, Admin: s.AdminPorts})
	if err != nil {
		key := "type" // no daemons given: the type is what asks for them
		if len(s.Daemons) > 0 && (errors.Is(err, ErrUnpinned) || errors.Is(err, ErrPort)) {
			key = "daemons"
		}
		return 0, nil, nil, settingErr(key, "%s", strings.TrimPrefix(err.Error(), "licmgr: "))
	}
	s.Ports = ports
	if port == 0 {
		port = ports[0].Port
	}
	if len(protocols) == 0 {
		protocols = slices.Clone(ports[0].Protocols)
	}
	return port, protocols, warnings, nil
}
