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
	"unicode/utf8"

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
	SignIn   string   // "12h": matches only if the user signed in at the portal this recently; empty: no condition

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
	SignedIn string // when the user last signed in at the portal, written like At; empty: never
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
		return nil, yamlErr(name, data, err)
	}
	if len(doc.Content) == 0 {
		return &Policy{File: name}, nil
	}
	return ParseNode(name, doc.Content[0])
}

var (
	lineRE   = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)
	anchorRE = regexp.MustCompile(`unknown anchor '([^']*)' referenced`)
)

// yamlErr puts file:line in front of a YAML error. The YAML library
// leaves the line out of some (bad UTF-8, control characters, unknown
// anchors); those are found in data here, so every policy error names
// its place.
func yamlErr(file string, data []byte, err error) error {
	msg := err.Error()
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%w: %s:%s: %s", ErrPolicy, file, m[1], msg[len(m[0]):])
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if line, col, what := badText(data); line > 0 {
		return fmt.Errorf("%w: %s:%d:%d: %s", ErrPolicy, file, line, col, what)
	}
	if m := anchorRE.FindStringSubmatch(msg); m != nil {
		if line := aliasLine(data, m[1]); line > 0 {
			return fmt.Errorf("%w: %s:%d: alias *%s: no anchor &%s before it", ErrPolicy, file, line, m[1], m[1])
		}
	}
	// Not located: the line where the document ends is the best guess.
	return fmt.Errorf("%w: %s:%d: %s", ErrPolicy, file, bytes.Count(data, []byte("\n"))+1, msg)
}

// badText finds the first byte YAML refuses: invalid UTF-8 or a control
// character other than tab, LF and CR (YAML 1.2 c-printable; NEL and a
// leading BOM are allowed). line and col count from 1; line 0: none.
func badText(data []byte) (line, col int, what string) {
	line, col = 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return line, col, fmt.Sprintf("byte 0x%02x is not UTF-8 (save the file as UTF-8)", data[i])
		case r == '\n':
			line, col = line+1, 0
		case r == '\t' || r == '\r' || r == 0x85 || r == 0xfeff && i == 0:
		case r < 0x20 || r >= 0x7f && r <= 0x9f || r == 0xfffe || r == 0xffff || r >= 0xd800 && r <= 0xdfff:
			return line, col, fmt.Sprintf("control character %U is not allowed in YAML (remove it)", r)
		}
		i += size
		col++
	}
	return 0, 0, ""
}

// aliasLine is the line of the first "*name" alias in data (0: none).
func aliasLine(data []byte, name string) int {
	re, err := regexp.Compile(`\*` + regexp.QuoteMeta(name) + `(?:[^A-Za-z0-9_-]|$)`)
	if err != nil {
		return 0
	}
	loc := re.FindIndex(data)
	if loc == nil {
		return 0
	}
	return bytes.Count(data[:loc[0]], []byte("\n")) + 1
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
	if isNull(n) {
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
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return p.errf(n, "expected a mapping (key: value), got %s", kindName(n))
	}
	seen := map[string]bool{}
	for _, kv := range entries(n) {
		k, v := kv[0], deref(kv[1])
		if k.Kind != yaml.ScalarNode {
			return p.errf(k, "a key must be a plain name, got %s", kindName(k))
		}
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

// deref follows aliases (*name) to the node their anchor (&name) marks.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// entries lists a mapping's key/value pairs, with YAML merge keys
// (<<: *defaults) expanded; keys written in the mapping win over merged ones.
func entries(n *yaml.Node) [][2]*yaml.Node {
	var own, merged [][2]*yaml.Node
	written := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Tag == "!!merge" {
			v = deref(v)
			srcs := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			}
			for _, src := range srcs {
				if src = deref(src); src.Kind == yaml.MappingNode {
					merged = append(merged, entries(src)...)
				}
			}
			continue
		}
		written[k.Value] = true
		own = append(own, [2]*yaml.Node{k, v})
	}
	for _, kv := range merged {
		if !written[kv[0].Value] {
			written[kv[0].Value] = true
			own = append(own, kv)
		}
	}
	return own
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

func isNull(n *yaml.Node) bool { n = deref(n); return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func (p parser) seq(n *yaml.Node, each func(*yaml.Node) error) error {
	if isNull(n) {
		return nil
	}
	n = deref(n)
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
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return p.errf(n, "expected a string, got %s", kindName(n))
	}
	*dst = n.Value
	return nil
}

func (p parser) int(n *yaml.Node, dst *int) error {
	n = deref(n)
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
	n = deref(n)
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
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return p.errf(n, "services: expected a mapping of service name to settings, got %s", kindName(n))
	}
	pol.Services = map[string]ServiceSpec{}
	for _, kv := range entries(n) {
		k, v := kv[0], deref(kv[1])
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
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return p.errf(n, "groups: expected a mapping of group name to members, got %s", kindName(n))
	}
	pol.Groups = map[string]GroupSpec{}
	for _, kv := range entries(n) {
		k, v := kv[0], deref(kv[1])
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
		"signin":                  func(v *yaml.Node) error { return p.str(v, &r.SignIn) },
		"max_sessions_per_device": func(v *yaml.Node) error { return p.int(v, &r.MaxSessionsPerDevice) },
		"max_sessions_per_user":   func(v *yaml.Node) error { return p.int(v, &r.MaxSessionsPerUser) },
		"max_sessions":            func(v *yaml.Node) error { return p.int(v, &r.MaxSessions) },
	})
	return r, err
}

func (p parser) test(n *yaml.Node) (TestSpec, error) {
	t := TestSpec{Line: n.Line}
	err := p.mapping(n, map[string]func(*yaml.Node) error{
		"user":      func(v *yaml.Node) error { return p.str(v, &t.User) },
		"device":    func(v *yaml.Node) error { return p.str(v, &t.Device) },
		"service":   func(v *yaml.Node) error { return p.str(v, &t.Service) },
		"at":        func(v *yaml.Node) error { return p.str(v, &t.At) },
		"source":    func(v *yaml.Node) error { return p.str(v, &t.Source) },
		"signed_in": func(v *yaml.Node) error { return p.str(v, &t.SignedIn) },
		"expect":    func(v *yaml.Node) error { return p.str(v, &t.Expect) },
		"rule": func(v *yaml.Node) error {
			var i int
			err := p.int(v, &i)
			t.Rule = &i
			return err
		},
		"sessions": func(v *yaml.Node) error {
			if v = deref(v); v.Kind != yaml.MappingNode {
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
