package acl

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrPolicy marks every policy error; match with errors.Is.
var ErrPolicy = errors.New("policy")

// Policy is a parsed, not yet validated, policy document.
type Policy struct {
	// TimeZone is the office's IANA zone for hours and dates. If empty, UTC.
	TimeZone string
	// Services holds per-service settings, by name.
	Services map[string]ServiceSpec
	// ServiceOrder is the order services were named in (for stable output).
	ServiceOrder []string
	// Groups by name.
	Groups map[string]GroupSpec
	// GroupOrder is the order groups were defined in.
	GroupOrder []string
	// Rules in order: the first that matches decides.
	Rules []RuleSpec
	// Tests are run by Compile; any failure rejects the policy.
	Tests []TestSpec

	File string // for messages
	Line int    // where the policy starts
}

// ServiceSpec is a service's policy settings.
type ServiceSpec struct {
	// Default is the action when no rule matches: deny (default) or allow.
	Default string
	// MaxSessions is the pool for the whole service (0: no cap).
	MaxSessions int
	Line        int
}

// GroupSpec is a named set of users (and other groups).
type GroupSpec struct {
	Members     []string // "alice" or "user:alice", "group:architects"
	MaxSessions int      // shared pool for all members together (0: no cap)
	Line        int
}

// RuleSpec is one rule as written.
type RuleSpec struct {
	Name     string
	Action   string   // allow or deny
	Who      []string // user:NAME, group:NAME, device:USER/NAME, *
	Services []string // empty: every service
	Source   []string // tunnel subnets; empty: any
	Hours    []string // "Mon-Fri 07:00-19:00"; empty: always
	From     string   // YYYY-MM-DD, inclusive
	Until    string   // YYYY-MM-DD, inclusive (through 23:59:59)

	MaxSessionsPerDevice int
	MaxSessionsPerUser   int
	MaxSessions          int // pool shared by every session this rule admitted

	Line int
}

// TestSpec is a policy test: a request and the expected decision.
type TestSpec struct {
	User     string
	Device   string
	Service  string
	At       string // "2026-12-01T20:00" in the office zone, or RFC 3339
	Source   string
	Expect   string // allow or deny
	Rule     *int   // if set, the deciding rule index must be this
	Sessions map[string]int
	Line     int
}

// Parse reads a policy document. name is used in messages.
func Parse(name string, data []byte) (*Policy, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &Policy{File: name}, nil
		}
		return nil, yamlErr(name, err)
	}
	if len(doc.Content) == 0 {
		return &Policy{File: name}, nil
	}
	return ParseNode(name, doc.Content[0])
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

func yamlErr(file string, err error) error {
	msg := err.Error()
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%w: %s:%s: %s", ErrPolicy, file, m[1], msg[len(m[0]):])
	}
	return fmt.Errorf("%w: %s: %s", ErrPolicy, file, strings.TrimPrefix(msg, "yaml: "))
}

type parser struct{ file string }

func (p parser) errf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%w: %s:%d: %s", ErrPolicy, p.file, n.Line, fmt.Sprintf(format, args...))
}

// ParseNode reads a policy from a YAML node (e.g. the `policy:` key of
// licgate.yaml). Unknown keys are errors.
func ParseNode(file string, n *yaml.Node) (*Policy, error) {
	p := parser{file}
	pol := &Policy{File: file, Line: n.Line}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return pol, nil
	}
	err := p.mapping(n, map[string]func(*yaml.Node) error{
		"timezone": func(v *yaml.Node) error { return p.str(v, &pol.TimeZone) },
		"services": func(v *yaml.Node) error { return p.services(v, pol) },
		"groups":   func(v *yaml.Node) error { return p.groups(v, pol) },
		"rules": func(v *yaml.Node) error {
			return p.seq(v, func(item *yaml.Node) error {
				r, err := p.rule(item)
				pol.Rules = append(pol.Rules, r)
				return err
			})
		},
		"tests": func(v *yaml.Node) error {
			return p.seq(v, func(item *yaml.Node) error {
				t, err := p.test(item)
				pol.Tests = append(pol.Tests, t)
				return err
			})
		},
	})
	if err != nil {
		return nil, err
	}
	return pol, nil
}

// mapping walks a mapping node, calling the handler of each key; a key
// with no handler, or given twice, is an error naming its line.
func (p parser) mapping(n *yaml.Node, keys map[string]func(*yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return p.errf(n, "expected a mapping (key: value), got %s", kindName(n))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		h, ok := keys[k.Value]
		if !ok {
			known := make([]string, 0, len(keys))
			for name := range keys {
				known = append(known, name)
			}
			sort.Strings(known)
			return p.errf(k, "unknown key %q (known: %s)", k.Value, strings.Join(known, ", "))
		}
		if seen[k.Value] {
			return p.errf(k, "key %q given twice", k.Value)
		}
		seen[k.Value] = true
		if err := h(v); err != nil {
			return err
		}
	}
	return nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func (p parser) seq(n *yaml.Node, each func(*yaml.Node) error) error {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return p.errf(n, "expected a list, got %s", kindName(n))
	}
	for _, item := range n.Content {
		if err := each(item); err != nil {
			return err
		}
	}
	return nil
}

func (p parser) str(n *yaml.Node, dst *string) error {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return p.errf(n, "expected a string, got %s", kindName(n))
	}
	*dst = n.Value
	return nil
}

func (p parser) int(n *yaml.Node, dst *int) error {
	if n.Kind != yaml.ScalarNode {
		return p.errf(n, "expected a number, got %s", kindName(n))
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < 0 {
		return p.errf(n, "expected a whole number >= 0, got %q", n.Value)
	}
	*dst = v
	return nil
}

// strs accepts a list of strings or a single string.
func (p parser) strs(n *yaml.Node, dst *[]string) error {
	if n.Kind == yaml.ScalarNode {
		*dst = []string{n.Value}
		return nil
	}
	return p.seq(n, func(item *yaml.Node) error {
		var s string
		if err := p.str(item, &s); err != nil {
			return err
		}
		*dst = append(*dst, s)
		return nil
	})
}

func (p parser) services(n *yaml.Node, pol *Policy) error {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return p.errf(n, "services: expected a mapping of service name to settings, got %s", kindName(n))
	}
	pol.Services = map[string]ServiceSpec{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := pol.Services[k.Value]; dup {
			return p.errf(k, "service %q given twice", k.Value)
		}
		s := ServiceSpec{Line: k.Line}
		if !(v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
			err := p.mapping(v, map[string]func(*yaml.Node) error{
				"default":      func(v *yaml.Node) error { return p.str(v, &s.Default) },
				"max_sessions": func(v *yaml.Node) error { return p.int(v, &s.MaxSessions) },
			})
			if err != nil {
				return err
			}
		}
		pol.Services[k.Value] = s
		pol.ServiceOrder = append(pol.ServiceOrder, k.Value)
	}
	return nil
}

func (p parser) groups(n *yaml.Node, pol *Policy) error {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return p.errf(n, "groups: expected a mapping of group name to members, got %s", kindName(n))
	}
	pol.Groups = map[string]GroupSpec{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := pol.Groups[k.Value]; dup {
			return p.errf(k, "group %q given twice", k.Value)
		}
		g := GroupSpec{Line: k.Line}
		var err error
		if v.Kind == yaml.MappingNode {
			err = p.mapping(v, map[string]func(*yaml.Node) error{
				"members":      func(v *yaml.Node) error { return p.strs(v, &g.Members) },
				"max_sessions": func(v *yaml.Node) error { return p.int(v, &g.MaxSessions) },
			})
		} else {
			err = p.strs(v, &g.Members)
		}
		if err != nil {
			return err
		}
		pol.Groups[k.Value] = g
		pol.GroupOrder = append(pol.GroupOrder, k.Value)
	}
	return nil
}

func (p parser) rule(n *yaml.Node) (RuleSpec, error) {
	r := RuleSpec{Line: n.Line}
	err := p.mapping(n, map[string]func(*yaml.Node) error{
		"name":                    func(v *yaml.Node) error { return p.str(v, &r.Name) },
		"action":                  func(v *yaml.Node) error { return p.str(v, &r.Action) },
		"who":                     func(v *yaml.Node) error { return p.strs(v, &r.Who) },
		"services":                func(v *yaml.Node) error { return p.strs(v, &r.Services) },
		"source":                  func(v *yaml.Node) error { return p.strs(v, &r.Source) },
		"hours":                   func(v *yaml.Node) error { return p.strs(v, &r.Hours) },
		"from":                    func(v *yaml.Node) error { return p.str(v, &r.From) },
		"until":                   func(v *yaml.Node) error { return p.str(v, &r.Until) },
		"max_sessions_per_device": func(v *yaml.Node) error { return p.int(v, &r.MaxSessionsPerDevice) },
		"max_sessions_per_user":   func(v *yaml.Node) error { return p.int(v, &r.MaxSessionsPerUser) },
		"max_sessions":            func(v *yaml.Node) error { return p.int(v, &r.MaxSessions) },
	})
	return r, err
}

func (p parser) test(n *yaml.Node) (TestSpec, error) {
	t := TestSpec{Line: n.Line}
	err := p.mapping(n, map[string]func(*yaml.Node) error{
		"user":    func(v *yaml.Node) error { return p.str(v, &t.User) },
		"device":  func(v *yaml.Node) error { return p.str(v, &t.Device) },
		"service": func(v *yaml.Node) error { return p.str(v, &t.Service) },
		"at":      func(v *yaml.Node) error { return p.str(v, &t.At) },
		"source":  func(v *yaml.Node) error { return p.str(v, &t.Source) },
		"expect":  func(v *yaml.Node) error { return p.str(v, &t.Expect) },
		"rule": func(v *yaml.Node) error {
			var i int
			err := p.int(v, &i)
			t.Rule = &i
			return err
		},
		"sessions": func(v *yaml.Node) error {
			if v.Kind != yaml.MappingNode {
				return p.errf(v, "sessions: expected a mapping like {user: 2, device: 1, rule: 3, group:interns: 2, service: 5}")
			}
			t.Sessions = map[string]int{}
			for i := 0; i+1 < len(v.Content); i += 2 {
				var c int
				if err := p.int(v.Content[i+1], &c); err != nil {
					return err
				}
				t.Sessions[v.Content[i].Value] = c
			}
			return nil
		},
	})
	return t, err
}
