package config

import "path/filepath"

// StoreConfig chooses where users, devices and the audit log live:
// SQLite in state_dir (one gateway; the default) or PostgreSQL (several
// gateways sharing one truth: docs/ha.md).
type StoreConfig struct {
	// Driver is sqlite (default) or postgres.
	Driver string `yaml:"driver"`
	// DSNFile holds the PostgreSQL connection string (postgres only),
	// relative to this file; a file, so the password stays out of the config.
	DSNFile string `yaml:"dsn_file"`
}

func (c *Config) validateStore() error {
	s := &c.Store
	switch s.Driver {
	case "":
		s.Driver = "sqlite"
	case "sqlite":
	case "postgres":
		if !postgresBuilt {
			return c.at("store.driver", "this build leaves PostgreSQL out (the router build, tag licgate_omit_postgres): use sqlite, or the full build")
		}
		if s.DSNFile == "" {
			return c.at("store.dsn_file", "missing: the file with the PostgreSQL connection string (postgres://user:pass@host/db)")
		}
		if !filepath.IsAbs(s.DSNFile) {
			s.DSNFile = filepath.Join(filepath.Dir(c.file), s.DSNFile)
		}
	default:
		return c.at("store.driver", "%q is not sqlite or postgres", s.Driver)
	}
	if s.Driver == "sqlite" && s.DSNFile != "" {
		return c.at("store.dsn_file", "only for driver: postgres")
	}
	return nil
}
