package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/licgate/licgate/licmgr"
)

// LicenseFilePath is a service's license_file resolved against the config
// file's directory ("" when none is set).
func (c *Config) LicenseFilePath(s ServiceConfig) string {
	if s.LicenseFile == "" || filepath.IsAbs(s.LicenseFile) {
		return s.LicenseFile
	}
	return filepath.Join(filepath.Dir(c.file), s.LicenseFile)
}

// applyServiceType resolves services[i]'s license-manager settings (owned
// by licmgr) before the common checks: the main port and protocols get
// the manager's defaults and the service its expanded Ports.
func (c *Config) applyServiceType(i int) error {
	s := &c.Services[i]
	p := "services." + strconv.Itoa(i)
	port, protocols, warns, err := s.Settings.Resolve(s.Port, s.Protocols, c.LicenseFilePath(*s))
	var se *licmgr.SettingError
	if errors.As(err, &se) {
		return c.at(p+"."+se.Key, "%s", se.Msg)
	}
	if err != nil {
		return c.at(p, "%v", err)
	}
	for _, w := range warns {
		c.warns = append(c.warns, p+"."+w)
	}
	s.Port, s.Protocols = port, protocols
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
