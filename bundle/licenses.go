package bundle

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/licgate/licgate/licmgr"
)

// License is one license manager a home computer's applications look for
// through the tunnel, as the helpers tell them where it is: CodeMeter's
// server search list, FlexNet's LM_LICENSE_FILE and <VENDOR>_LICENSE_FILE,
// RLM's RLM_LICENSE and <isv>_LICENSE, Sentinel LDK's remote search
// (serveraddr in hasplm.ini's [REMOTE] section).
type License struct {
	// Kind is the manager.
	Kind licmgr.Kind
	// Port is the manager's main port: lmgrd's (FlexNet; zero means its
	// default range 27000-27009, written "@host"), rlm's (RLM; zero means
	// 5053). Unused for the others.
	Port int
	// Daemons are FlexNet vendor daemons or RLM ISV servers: each gets its
	// own variable, since some applications read only that one
	// (Autodesk's ADSKFLEX_LICENSE_FILE, The Foundry's foundry_LICENSE).
	Daemons []string
}

// LicenseFor is what a home computer needs for a service of kind k with
// ports (licmgr.Settings.Ports after Resolve).
func LicenseFor(k licmgr.Kind, ports []licmgr.Port) License {
	l := License{Kind: k}
	lookups := 0
	for _, p := range ports {
		switch {
		case p.Role == licmgr.RoleLookup:
			lookups++
			l.Port = p.Port
		case strings.HasPrefix(p.Name, "vendor "), strings.HasPrefix(p.Name, "isv "):
			l.Daemons = append(l.Daemons, p.Name[strings.IndexByte(p.Name, ' ')+1:])
		}
	}
	if lookups > 1 {
		l.Port = 0 // lmgrd anywhere in 27000-27009: "@host" searches them all
	}
	return l
}

// envName is what may follow "export " in sh and name a Windows variable.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// EnvVar is one environment variable a helper sets for every user.
type EnvVar struct{ Name, Value string }

// EnvVars are the variables the helpers set, sorted by name, one per
// name: FlexNet's and RLM's "port@gateway" under the manager's variable
// and each daemon's. Daemon names that cannot be variable names are left
// out (the manager's own variable still works for them).
func (b *Bundle) EnvVars() []EnvVar {
	vals := map[string][]string{}
	add := func(name, v string) {
		if !envName.MatchString(name) {
			return
		}
		for _, have := range vals[name] {
			if have == v {
				return
			}
		}
		vals[name] = append(vals[name], v)
	}
	for _, l := range b.Licenses {
		switch l.Kind {
		case licmgr.FlexNet:
			v := "@" + b.Gateway
			if l.Port != 0 {
				v = strconv.Itoa(l.Port) + v
			}
			add("LM_LICENSE_FILE", v)
			for _, d := range l.Daemons {
				add(strings.ToUpper(d)+"_LICENSE_FILE", v)
			}
		case licmgr.RLM:
			port := l.Port
			if port == 0 {
				port = licmgr.RLMPort
			}
			v := strconv.Itoa(port) + "@" + b.Gateway
			add("RLM_LICENSE", v)
			for _, d := range l.Daemons {
				add(d+"_LICENSE", v)
			}
		}
	}
	out := make([]EnvVar, 0, len(vals))
	for name, vs := range vals {
		// Two services of one manager: both servers, in the order given
		// (FlexNet and RLM try each in turn). NUL stands for the list
		// separator, which is ':' on Linux and macOS, ';' on Windows.
		out = append(out, EnvVar{Name: name, Value: strings.Join(vs, "\x00")})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// has reports whether the bundle fronts a manager of kind k. A bundle
// whose Licenses name no manager (none, or only untyped and generic
// services: a config from before profiles) fronts CodeMeter, as the
// helpers did then.
func (b *Bundle) has(k licmgr.Kind) bool {
	named := false
	for _, l := range b.Licenses {
		if l.Kind == k {
			return true
		}
		named = named || l.Kind != licmgr.Generic
	}
	return !named && k == licmgr.CodeMeter
}

// CodeMeter: the helpers add the gateway to CodeMeter's server search list.
func (b *Bundle) CodeMeter() bool { return b.has(licmgr.CodeMeter) }

// LDK: the helpers add the gateway to Sentinel LDK's remote search.
func (b *Bundle) LDK() bool { return b.has(licmgr.SentinelLDK) }

// ProfileScript is /etc/profile.d/licgate-TUNNEL.sh (Linux) or the block
// in /etc/zprofile (macOS): each variable gets the gateway's entries in
// front of what the user already has, once however often it is sourced.
func (b *Bundle) ProfileScript() string {
	var s strings.Builder
	for _, v := range b.EnvVars() {
		val := strings.ReplaceAll(v.Value, "\x00", ":")
		fmt.Fprintf(&s, "case \":${%[1]s:-}:\" in *\":%[2]s:\"*) ;; *) %[1]s=\"%[2]s${%[1]s:+:$%[1]s}\"; export %[1]s ;; esac\n", v.Name, val)
	}
	return s.String()
}

// EnvironmentD is /etc/environment.d/60-licgate-TUNNEL.conf (Linux, read
// by systemd's user manager, so desktop sessions get the variables too;
// environment.d(5)).
func (b *Bundle) EnvironmentD() string {
	var s strings.Builder
	for _, v := range b.EnvVars() {
		val := strings.ReplaceAll(v.Value, "\x00", ":")
		fmt.Fprintf(&s, "%[1]s=%[2]s${%[1]s:+:$%[1]s}\n", v.Name, val)
	}
	return s.String()
}

// EnvPairs are the variables as NAME=VALUE words for the sh helpers'
// launchctl setenv (macOS GUI applications): ':' joins two servers.
func (b *Bundle) EnvPairs() string {
	var words []string
	for _, v := range b.EnvVars() {
		words = append(words, v.Name+"="+strings.ReplaceAll(v.Value, "\x00", ":"))
	}
	return strings.Join(words, " ")
}

// PSEnv is the body of the PowerShell [ordered] table name = value the
// Windows helper merges into the machine's environment (';' joins two
// servers there). Names and values hold no quote (envName; a port, '@'
// and an IP address).
func (b *Bundle) PSEnv() string {
	var rows []string
	for _, v := range b.EnvVars() {
		rows = append(rows, fmt.Sprintf("'%s' = '%s'", v.Name, strings.ReplaceAll(v.Value, "\x00", ";")))
	}
	if len(rows) == 0 {
		return ""
	}
	return " " + strings.Join(rows, "; ") + " "
}
