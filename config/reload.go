package config

import (
	"bytes"
	"fmt"
	"reflect"

	"github.com/licgate/licgate/internal/boundedfile"
)

// Reload reads path again for a running gateway: unlike Load, a missing,
// unreadable or empty file is an error (the running config stays), never
// the defaults, which would deny every connection and cut every session.
func Reload(path string) (*Config, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: reload: the running config was not loaded from a file", ErrConfig)
	}
	data, err := boundedfile.Read(path, boundedfile.Config)
	if err != nil {
		return nil, fmt.Errorf("%w: reload %s: %w (the running config stays)", ErrConfig, path, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: reload %s: the file is empty (the running config stays)", ErrConfig, path)
	}
	c, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	c.path = path
	return c, nil
}

// MergeReload is the config a reload puts in force: everything from cfg,
// except what only a restart can change, which keeps old's values and is
// named in the list.
func MergeReload(old, cfg *Config) (*Config, []string) {
	next := *cfg
	var restart []string
	keep := func(name string, changed bool, restore func()) {
		if changed {
			restart = append(restart, name)
			restore()
		}
	}
	keep("state_dir", next.StateDir != old.StateDir, func() { next.StateDir = old.StateDir })
	keep("socket", next.Socket != old.Socket, func() { next.Socket = old.Socket })
	keep("log_level", next.LogLevel != old.LogLevel, func() { next.LogLevel = old.LogLevel })
	keep("store", !reflect.DeepEqual(next.Store, old.Store), func() { next.Store = old.Store })
	keep("cluster", !reflect.DeepEqual(next.Cluster, old.Cluster), func() { next.Cluster = old.Cluster })
	keep("services", !reflect.DeepEqual(next.Services, old.Services), func() { next.Services = old.Services })
	// The tunnel device is built at start; endpoint and keepalive only go
	// into profiles made from now on, so they apply at once.
	tNew, tOld := next.Tunnel, old.Tunnel
	tNew.Endpoint, tNew.Keepalive = tOld.Endpoint, tOld.Keepalive
	keep("tunnel (mode, port, subnet, address, mtu, interface, key, ack_delay)", !reflect.DeepEqual(tNew, tOld), func() {
		ep, ka := next.Tunnel.Endpoint, next.Tunnel.Keepalive
		next.Tunnel = old.Tunnel
		next.Tunnel.Endpoint, next.Tunnel.Keepalive = ep, ka
	})
	keep("public.listen", next.Public.Listen != old.Public.Listen, func() { next.Public.Listen = old.Public.Listen })
	keep("public.name", next.Public.Name != old.Public.Name, func() { next.Public.Name = old.Public.Name })
	keep("public.acme", !reflect.DeepEqual(next.Public.ACME, old.Public.ACME), func() { next.Public.ACME = old.Public.ACME })
	keep("admin.port", next.Admin.Port != old.Admin.Port, func() { next.Admin.Port = old.Admin.Port })
	keep("admin.lan_listen", next.Admin.LANListen != old.Admin.LANListen, func() { next.Admin.LANListen = old.Admin.LANListen })
	keep("admin.token_file", next.Admin.TokenFile != old.Admin.TokenFile, func() { next.Admin.TokenFile = old.Admin.TokenFile })
	return &next, restart
}
