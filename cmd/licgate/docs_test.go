package main

import (
	"os"
	"path/filepath"
	"regexp"
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

// TestDDNSDocExamples loads every licgate.yaml example in docs/ddns.
func TestDDNSDocExamples(t *testing.T) {
	files, _ := filepath.Glob("../../docs/ddns/*.md")
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(data), -1) {
			n++
			if _, err := config.Parse(f, []byte(b[1])); err != nil {
				t.Errorf("%s: example does not load: %v", f, err)
			}
		}
	}
	if n < 5 {
		t.Fatalf("found %d examples", n)
	}
}
