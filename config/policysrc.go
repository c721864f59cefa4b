package config

import (
	"bytes"
	"fmt"

	"github.com/licgate/licgate/acl"
	"go.yaml.in/yaml/v3"
)

const warnNoPolicy = "no policy configured: every connection is denied (default deny); add a policy with rules"

// PolicySource is the policy in force as text.
func (c *Config) PolicySource() acl.Source { return c.policySrc }

// inlineSource turns the inline policy: node into a policy document.
func inlineSource(file string, n *yaml.Node) (acl.Source, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return acl.Source{}, fmt.Errorf("%s: policy: %w", file, err)
	}
	return acl.Source{Name: file + " (policy:)", Text: buf.Bytes()}, nil
}

// WithPolicy is a copy of c whose policy is src instead of its own
// inline policy or policy_file (every other setting is c's). The policy is
// parsed and compiled against c's services; an error names src.Name and
// the line, and c is unchanged.
func (c *Config) WithPolicy(src acl.Source) (*Config, error) {
	n := *c
	n.warns, n.Policy, n.PolicyFile, n.policySrc = nil, yaml.Node{}, "", src
	pol, err := &acl.Policy{File: src.Name}, error(nil)
	switch {
	case len(src.Text) > maxPolicyFile:
		return nil, fmt.Errorf("%w: %s: policy of %d bytes is over %d", ErrConfig, src.Name, len(src.Text), maxPolicyFile)
	case len(bytes.TrimSpace(src.Text)) > 0:
		if pol, err = acl.Parse(src.Name, src.Text); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	default:
		n.warns = append(n.warns, warnNoPolicy)
	}
	if err := n.usePolicy(pol); err != nil {
		return nil, err
	}
	return &n, nil
}
