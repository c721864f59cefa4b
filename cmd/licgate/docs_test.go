package main

import (
	"os"
	"regexp"
	"testing"

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
