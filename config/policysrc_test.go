package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licgate/licgate/acl"
)

// TestWithPolicy: the text of an inline policy and of a policy_file
// compiles to the same rules elsewhere; a bad text is refused by its
// name and line and the config it was applied to is unchanged.
func TestWithPolicy(t *testing.T) {
	inline := "policy:\n  groups:\n    cad: [alice]\n  rules:\n    - {action: allow, who: [group:cad]}\n    - {action: deny, who: [\"*\"]}\n"
	a, err := Parse("a.yaml", []byte(inline))
	if err != nil {
		t.Fatal(err)
	}
	src := a.PolicySource()
	if src.Name != "a.yaml (policy:)" || !strings.Contains(string(src.Text), "group:cad") {
		t.Fatalf("inline source: %q\n%s", src.Name, src.Text)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), src.Text, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := Parse(filepath.Join(dir, "b.yaml"), []byte("policy_file: p.yaml\n"))
	if err != nil {
		t.Fatal(err)
	}
	if b.PolicySource().Sum() != src.Sum() {
		t.Fatal("the policy file's text differs from the inline policy's it was written from")
	}
	empty, err := Parse("c.yaml", []byte("log_level: info\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := empty.WithPolicy(src)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(c.Engine().Rules()), len(a.Engine().Rules()); got != want || got != 2 {
		t.Fatalf("rules: %d, want %d", got, want)
	}
	if len(empty.Engine().Rules()) != 0 || empty.PolicySource().Sum() == src.Sum() {
		t.Fatal("WithPolicy changed the config it was applied to")
	}
	bad := acl.Source{Name: "cluster policy", Text: []byte("rules:\n  - {action: allow, who: [group:nosuch]}\n")}
	if _, err := a.WithPolicy(bad); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "cluster policy:2") {
		t.Fatalf("bad policy: %v", err)
	}
	if len(a.Engine().Rules()) != 2 {
		t.Fatal("a refused policy changed the config")
	}
}
