package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/licgate/licgate/acl"
	"go.yaml.in/yaml/v3"
)

// PolicySource is a policy as text: what a cluster stores in its
// database so that every gateway enforces the same rules.
type PolicySource struct {
	// Name is where the text came from (a policy file, or "FILE (policy:)"
	// for an inline policy); error messages name it.
	Name string
	// Text is a policy document (the top level has rules, groups, ...).
	// Empty means no policy: every connection is denied.
	Text []byte
}

// Sum identifies the text (hex SHA-256), to tell whether two are the same.
func (p PolicySource) Sum() string {
	h := sha256.Sum256(p.Text)
	return hex.EncodeToString(h[:])
}

// Policy is the policy in force as text (see PolicySource).
func (c *Config) PolicySource() PolicySource { return c.policySrc }

// inlineSource turns the inline policy: node into a policy document.
func inlineSource(file string, n *yaml.Node) (PolicySource, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return PolicySource{}, fmt.Errorf("%s: policy: %w", file, err)
	}
	return PolicySource{Name: file + " (policy:)", Text: buf.Bytes()}, nil
}

// WithPolicy is a copy of c whose policy is src instead of its own
// inline policy or policy_file (every other setting is c's). The policy is
// parsed and compiled against c's services; an error names src.Name and
// the line, and c is unchanged.
func (c *Config) WithPolicy(src PolicySource) (*Config, error) {
	n := *c
	n.warns = nil
	n.Policy, n.PolicyFile = yaml.Node{}, ""
	n.policySrc = src
	names := make([]string, len(c.Services))
	for i, s := range c.Services {
		names[i] = s.Name
	}
	pol := &acl.Policy{File: src.Name}
	if len(bytes.TrimSpace(src.Text)) > 0 {
		if len(src.Text) > maxPolicyFile {
			return nil, fmt.Errorf("%w: %s: policy of %d bytes is over %d", ErrConfig, src.Name, len(src.Text), maxPolicyFile)
		}
		var err error
		if pol, err = acl.Parse(src.Name, src.Text); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	} else {
		n.warns = append(n.warns, "no policy configured: every connection is denied (default deny); add a policy with rules")
	}
	if err := n.usePolicy(pol, names); err != nil {
		return nil, err
	}
	return &n, nil
}
