package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/licgate/licgate/config"

	"go.yaml.in/yaml/v3"

	"github.com/licgate/licgate/acl"
)

// TestAdminGuideExamples compiles every YAML example in docs/admins.md,
// running the policy tests they contain.
func TestAdminGuideExamples(t *testing.T) {
	data, err := os.ReadFile("../../docs/admins.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(data), -1)
	if len(blocks) < 3 {
		t.Fatalf("found %d yaml examples", len(blocks))
	}
	for i, b := range blocks {
		src := b[1]
		var pol *acl.Policy
		var top map[string]yaml.Node
		if err := yaml.Unmarshal([]byte(src), &top); err != nil {
			t.Fatalf("example %d: %v", i, err)
		}
		_, hasAdmin := top["admin"]
		_, hasPublic := top["public"]
		if hasAdmin || hasPublic {
			// A licgate.yaml excerpt: it must load as a config.
			if _, err := config.Parse("admins.md", []byte(src)); err != nil {
				t.Fatalf("example %d: %v\n%s", i, err, src)
			}
			continue
		}
		if n, ok := top["policy"]; ok {
			pol, err = acl.ParseNode("admins.md", &n)
		} else {
			pol, err = acl.Parse("admins.md", []byte(src))
		}
		if err != nil {
			t.Fatalf("example %d: %v\n%s", i, err, src)
		}
		if _, _, err := acl.Compile(pol, []string{"codemeter"}); err != nil {
			t.Fatalf("example %d: %v\n%s", i, err, src)
		}
	}
}

// configKeys are top-level keys only a licgate.yaml has (a policy file
// also has services, groups, rules, timezone and tests).
var configKeys = []string{"state_dir", "log_level", "socket", "tunnel", "policy", "policy_file", "enforcement",
	"audit", "ddns", "public", "admin", "memory_limit"}

// TestDocsYAMLExamples: every YAML block of README.md, docs/*.md and
// docs/ddns/*.md loads. A block that looks like a licgate.yaml (a
// top-level key only licgate.yaml has, or services as a list) must load
// with config.Parse; a policy file (rules, groups, timezone) must parse
// and compile with acl, running its tests. A block marked in the
// markdown with a preceding `<!-- fragment: why -->` line is skipped and
// logged. A block marked `<!-- not-yet-in-config: why -->` documents a
// licgate.yaml section that config does not read yet: it must still be
// refused as an unknown key, so that the marker (and the note that goes
// with it in the guide) is removed the day the section is wired in. Any
// other YAML block is taken for a licgate.yaml.
func TestDocsYAMLExamples(t *testing.T) {
	checked := map[string]int{}
	for _, f := range docFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks(string(data)) {
			if b.lang != "yaml" {
				continue
			}
			where := f + ":" + strconv.Itoa(b.line)
			if b.fragment {
				t.Logf("%s: fragment, skipped", where)
				continue
			}
			var top map[string]yaml.Node
			if err := yaml.Unmarshal([]byte(b.text), &top); err != nil {
				t.Errorf("%s: not YAML: %v", where, err)
				continue
			}
			isConfig := false
			for _, k := range configKeys {
				if _, ok := top[k]; ok {
					isConfig = true
				}
			}
			if s, ok := top["services"]; ok && s.Kind == yaml.SequenceNode {
				isConfig = true
			}
			_, hasRules := top["rules"]
			_, hasGroups := top["groups"]
			_, hasTZ := top["timezone"]
			switch {
			case b.pending:
				// Refused for its top-level key, not for a key inside
				// (which would mean the section is read, and the
				// example is wrong).
				_, err := config.Parse(where, []byte(b.text))
				refused := false
				for k := range top {
					if err != nil && strings.Contains(err.Error(), " "+k+": unknown key") {
						refused = true
					}
				}
				if !refused {
					t.Errorf("%s: marked not-yet-in-config, but config.Parse says %v: the section is read now: remove the marker and the guide's note, and fix the example", where, err)
				}
				t.Logf("%s: not yet in config (refused as expected: %v)", where, err)
				continue
			case isConfig || !(hasRules || hasGroups || hasTZ):
				if _, err := config.Parse(where, []byte(b.text)); err != nil {
					t.Errorf("%s: licgate.yaml example does not load: %v\n%s", where, err, b.text)
				}
			default:
				pol, err := acl.Parse(where, []byte(b.text))
				if err == nil {
					_, _, err = acl.Compile(pol, []string{"codemeter"})
				}
				if err != nil {
					t.Errorf("%s: policy example does not compile: %v\n%s", where, err, b.text)
				}
			}
			checked[filepath.Base(f)]++
		}
	}
	// The guides that are mostly examples must keep them.
	for f, min := range map[string]int{"admins.md": 3, "transparent.md": 1, "install.md": 1} {
		if checked[f] < min {
			t.Errorf("%s: %d YAML examples checked, want at least %d", f, checked[f], min)
		}
	}
	n := 0
	for _, c := range checked {
		n += c
	}
	if n < 10 {
		t.Fatalf("checked only %d YAML examples", n)
	}
}
