package deptest

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCatchesIssue24Violations adds, through `go list -overlay` (no file on
// disk changes), the four imports issue 24 found the old direct-import,
// default-build test let through, and checks each is reported, in the
// builds where it exists:
//
//   - doctor reaching gateway through internal/demo (an indirect path);
//   - store/postgres importing config (a sub-package);
//   - store/bolt.go, built only with licgate_store_bolt, importing config;
//   - tunnel/kernelfw importing store (a sub-package of a leaf).
func TestCatchesIssue24Violations(t *testing.T) {
	root := moduleRoot(t)
	// The bbolt backend's first file behind the tag (store/bolt.go today;
	// wherever the split puts it).
	boltFile, boltPkg, boltSrc := taggedFile(t, filepath.Join(root, "store"), "licgate_store_bolt")
	withImport := func(pkg, imp string) string {
		return "package " + pkg + "\n\nimport _ \"" + Module + "/" + imp + "\"\n"
	}
	l := &Loader{Root: root, Cache: cacheDir(), Overlay: map[string]string{
		filepath.Join(root, "doctor", "zz_deptest.go"): withImport("doctor", "internal/demo"),
		// internal/demo moved under cmd (issue 24); the overlay brings it back.
		filepath.Join(root, "internal", "demo", "zz_deptest.go"):  withImport("demo", "gateway"),
		filepath.Join(root, "store", "postgres", "zz_deptest.go"): withImport("postgres", "config"),
		boltFile: addImport(t, boltSrc, Module+"/config"),
		filepath.Join(root, "tunnel", "kernelfw", "zz_deptest.go"): withImport("kernelfw", "store"),
	}}
	plain := Build{GOOS: "linux"}
	withBolt := Build{GOOS: "linux", Tags: []string{"licgate_store_bolt"}}
	graphs, err := l.Load([]Build{plain, withBolt})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Violation{}
	for _, v := range Licgate.Check(graphs) {
		got[v.ID] = v
		t.Log(v)
	}
	for _, want := range []struct {
		id, chain string
		builds    []Build
	}{
		{"forbidden: doctor -> gateway/...", "doctor -> internal/demo -> gateway", []Build{plain, withBolt}},
		{"forbidden: store/postgres -> config", "store/postgres -> config", []Build{plain, withBolt}},
		{"forbidden: " + boltPkg + " -> config", boltPkg + " -> config", []Build{withBolt}},
		{"layer: " + boltPkg + " -> config", "", []Build{withBolt}},
		{"forbidden: tunnel/kernelfw -> store/...", "tunnel/kernelfw -> store", []Build{plain, withBolt}},
		{"layer: tunnel/kernelfw -> store", "", []Build{plain, withBolt}},
	} {
		v, ok := got[want.id]
		if !ok {
			t.Errorf("not reported: %s", want.id)
			continue
		}
		if !strings.Contains(v.Detail, want.chain) {
			t.Errorf("%s: detail %q does not show the chain %q", want.id, v.Detail, want.chain)
		}
		var builds []string
		for _, b := range want.builds {
			builds = append(builds, b.String())
		}
		if !slices.Equal(v.Builds, builds) {
			t.Errorf("%s: seen in %q, want %q", want.id, v.Builds, builds)
		}
	}
}

// addImport adds a blank import after the package clause of src.
func addImport(t *testing.T, src, imp string) string {
	t.Helper()
	i := strings.Index(src, "\npackage ")
	if i < 0 {
		t.Fatal("no package clause")
	}
	j := strings.Index(src[i+1:], "\n")
	if j < 0 {
		t.Fatal("no line after the package clause")
	}
	at := i + 1 + j + 1
	return src[:at] + "\nimport _ \"" + imp + "\"\n" + src[at:]
}

// taggedFile finds the first non-test Go file under dir whose build
// constraint is exactly tag, and returns its path, its package's path
// relative to the module and its content.
func taggedFile(t *testing.T, dir, tag string) (path, pkg, src string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || path != "" || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(string(data), "//go:build "+tag+"\n") {
			path, src = p, string(data)
		}
		return nil
	})
	if err != nil || path == "" {
		t.Fatalf("no file under %s built only with %s (%v): update this test", dir, tag, err)
	}
	r, err := filepath.Rel(moduleRoot(t), filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	return path, filepath.ToSlash(r), src
}

// graph builds a synthetic one-build graph: "a b c" means a imports b and c
// (project packages, relative names; names with a dot are external).
func graph(b Build, lines map[string]int, edges ...string) *Graph {
	g := &Graph{Build: b, Packages: map[string]*Package{}}
	full := func(s string) string {
		if strings.Contains(strings.SplitN(s, "/", 2)[0], ".") {
			return s
		}
		return Module + "/" + s
	}
	get := func(s string) *Package {
		p := g.Packages[full(s)]
		if p == nil {
			p = &Package{ImportPath: full(s), Name: filepath.Base(s), Lines: lines[s]}
			g.Packages[full(s)] = p
		}
		return p
	}
	for _, e := range edges {
		f := strings.Fields(e)
		p := get(f[0])
		for _, imp := range f[1:] {
			get(imp)
			p.Imports = append(p.Imports, full(imp))
		}
	}
	return g
}

func ids(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.ID)
	}
	return out
}

func TestPolicyOnSyntheticGraphs(t *testing.T) {
	pol := Policy{
		Layers: []Layer{
			{"leaf", []string{"leaf", "leaf2", "internal/..."}},
			{"part", []string{"part/..."}},
			{"top", []string{"top"}},
		},
		SelfContained: map[string]string{"leaf": "pure"},
		Harness:       []string{"part/parttest"},
		Rules: []Rule{
			{From: "part/...", To: "example.com/big/...", Why: "too big"},
			{From: "top", To: "example.com/gone/...", Tag: "omit_gone", Why: "omitted"},
		},
		MaxLines: 100,
		Budgets:  map[string]int{"top": 50},
	}
	linux := Build{GOOS: "linux"}
	omit := Build{GOOS: "linux", Tags: []string{"omit_gone"}}
	for _, tc := range []struct {
		name  string
		g     *Graph
		lines map[string]int
		want  []string
	}{
		{"clean", graph(linux, nil, "top part/a leaf", "part/a leaf internal/x", "leaf internal/x"), nil, nil},
		{"upward edge", graph(linux, nil, "part/a top"), nil, []string{"layer: part/a -> top"}},
		{"leaf imports another leaf", graph(linux, nil, "leaf leaf2"), nil, []string{"self-contained: leaf -> leaf2"}},
		{"unlayered", graph(linux, nil, "top newpkg"), nil, []string{"unlayered: newpkg"}},
		{"indirect external", graph(linux, nil, "part/a example.com/x", "example.com/x example.com/big/y"), nil,
			[]string{"forbidden: part/a -> example.com/big/..."}},
		{"tag rule off without the tag", graph(linux, nil, "top example.com/gone"), nil, nil},
		{"tag rule on with the tag", graph(omit, nil, "top example.com/gone"), nil, []string{"forbidden: top -> example.com/gone/..."}},
		{"fixture linked", graph(linux, nil, "top part/a", "part/a leaf", "leaf2", "part/b part/parttest"), nil,
			[]string{"harness: part/b -> part/parttest"}},
		{"size", graph(linux, map[string]int{"top": 51, "part/a": 100, "part/b": 101}, "top part/a part/b"), nil,
			[]string{"size: part/b", "size: top"}},
	} {
		got := ids(pol.Check([]*Graph{tc.g}))
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestKnownListOnlyShrinks(t *testing.T) {
	vs := []Violation{{ID: "size: gateway", Builds: []string{"linux"}, Of: 1}, {ID: "layer: a -> b", Builds: []string{"linux"}, Of: 1}}
	fail, accepted := Known(vs, map[string]string{"size: gateway": "the split", "layer: old -> gone": "fixed"})
	if len(accepted) != 1 || !strings.HasPrefix(accepted[0], "size: gateway") {
		t.Errorf("accepted = %q", accepted)
	}
	if len(fail) != 2 || !strings.HasPrefix(fail[0], "layer: a -> b") || !strings.Contains(fail[1], `"layer: old -> gone" no longer happens`) {
		t.Errorf("fail = %q", fail)
	}
}
