package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestApprovalConfig: signin.enrol's approval keys are checked, naming
// file:line and the key, and take their defaults; NeedsApproval follows
// approval_groups and approval_except_groups.
func TestApprovalConfig(t *testing.T) {
	const base = "public:\n  listen: ':443'\n  name: office.example.com\nsignin:\n  issuer: https://idp.example.com\n  client_id: c\n  client_secret_file: /s\n  allowed_domains: [example.com]\n  enrol:\n    enabled: true\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown value", base + "    approval: maybe\n", `c.yaml:11: signin.enrol.approval: "maybe": want none (default) or required`},
		{"groups without required", base + "    approval_groups: [x]\n", "need approval: required"},
		{"both lists", base + "    approval: required\n    approval_groups: [x]\n    approval_except_groups: [y]\n", "signin.enrol.approval_groups: give approval_groups or approval_except_groups, not both"},
		{"ttl too long", base + "    approval: required\n    approval_ttl: 31d\n", "signin.enrol.approval_ttl"},
		{"ttl zero", base + "    approval: required\n    approval_ttl: 0s\n", "signin.enrol.approval_ttl"},
		{"max_pending", base + "    approval: required\n    max_pending: 5000\n", "signin.enrol.max_pending: 5000 is outside 1-1000"},
		{"notify address", base + "    approval: required\n    notify: [not-an-address]\n", "signin.enrol.notify"},
		{"notify without smtp", base + "    approval: required\n    notify: [it@example.com]\n", "mailing the admins needs smtp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tc.yaml))
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\ndoes not contain %q", err, tc.want)
			}
		})
	}
	c, err := Parse("c.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if e := c.Signin.Enrol; e.Approval != ApprovalNone || e.ApprovalTTL.Duration != 72*time.Hour || e.MaxPending != 20 || c.NeedsApproval(nil) {
		t.Fatalf("defaults: %+v, needs approval %v", e, c.NeedsApproval(nil))
	}
	for _, tc := range []struct {
		extra  string
		groups []string
		want   bool
	}{
		{"    approval: required\n", nil, true},
		{"    approval: required\n    approval_groups: [contractors]\n", []string{"staff", "contractors"}, true},
		{"    approval: required\n    approval_groups: [contractors]\n", []string{"staff"}, false},
		{"    approval: required\n    approval_groups: [contractors]\n", nil, false},
		{"    approval: required\n    approval_except_groups: [staff]\n", []string{"staff"}, false},
		{"    approval: required\n    approval_except_groups: [staff]\n", nil, true},
	} {
		c, err := Parse("c.yaml", []byte(base+tc.extra))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.NeedsApproval(tc.groups); got != tc.want {
			t.Errorf("%q, groups %v: needs approval %v, want %v", tc.extra, tc.groups, got, tc.want)
		}
	}
}
