package deptest

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ProjectTags returns the build tags used in //go:build lines of the
// module's Go files (tests included), leaving out GOOS and GOARCH values
// (`go tool dist list`), "unix", "cgo", "gc", "gccgo", "ignore" and goN.M
// release tags: the tags the project defines (licgate_omit_*,
// licgate_store_bolt) or chooses from the standard library
// (nethttpomithttp2). A new tag joins the builds without editing the test.
func ProjectTags(root, goCmd string) ([]string, error) {
	if goCmd == "" {
		goCmd = "go"
	}
	out, err := exec.Command(goCmd, "tool", "dist", "list").Output()
	if err != nil {
		return nil, fmt.Errorf("deptest: go tool dist list: %w", err)
	}
	platform := map[string]bool{"unix": true, "cgo": true, "gc": true, "gccgo": true, "ignore": true}
	for _, line := range strings.Fields(string(out)) {
		os, arch, _ := strings.Cut(line, "/")
		platform[os], platform[arch] = true, true
	}
	tags := map[string]bool{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_") || d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if strings.HasPrefix(line, "package ") {
				break
			}
			if !constraint.IsGoBuild(line) {
				continue
			}
			expr, err := constraint.Parse(line)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			expr.Eval(func(tag string) bool {
				if !platform[tag] && !strings.HasPrefix(tag, "go1.") {
					tags[tag] = true
				}
				return false
			})
		}
		return sc.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("deptest: reading build constraints: %w", err)
	}
	list := make([]string, 0, len(tags))
	for t := range tags {
		list = append(list, t)
	}
	sort.Strings(list)
	return list, nil
}

// StringSliceVar reads a package-level `var name = []string{...}` of
// string literals from a Go file, so the test follows tools/dist's
// RouterTags without importing a main package.
func StringSliceVar(file, name string) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		return nil, fmt.Errorf("deptest: %w", err)
	}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, id := range vs.Names {
				if id.Name != name || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.CompositeLit)
				if !ok {
					return nil, fmt.Errorf("deptest: %s: %s is not a literal", file, name)
				}
				var out []string
				for _, e := range lit.Elts {
					bl, ok := e.(*ast.BasicLit)
					if !ok || bl.Kind != token.STRING {
						return nil, fmt.Errorf("deptest: %s: %s holds a non-literal", file, name)
					}
					s, _ := strconv.Unquote(bl.Value)
					out = append(out, s)
				}
				return out, nil
			}
		}
	}
	return nil, fmt.Errorf("deptest: %s: no var %s", file, name)
}

// Builds is every GOOS with no tags, each tag alone, and each combination.
func Builds(goos []string, tags []string, combos ...[]string) []Build {
	sets := [][]string{nil}
	for _, t := range tags {
		sets = append(sets, []string{t})
	}
	for _, c := range combos {
		c = append([]string(nil), c...)
		sort.Strings(c)
		sets = append(sets, c)
	}
	var out []Build
	for _, os := range goos {
		for _, s := range sets {
			out = append(out, Build{GOOS: os, Tags: s})
		}
	}
	return out
}
