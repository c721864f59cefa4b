package deptest

import (
	"fmt"
	"sort"
	"strings"
)

// Rule forbids packages matching From to depend on packages matching To,
// directly or through any chain of imports.
//
// Patterns name packages relative to the module ("gateway", "store/...")
// or by their full import path ("github.com/jackc/pgx/v5/...", "net/http");
// "x/..." matches x and everything below it.
type Rule struct {
	From, To string
	Why      string
	// Tag, if set, limits the rule to builds with that build tag (an
	// omitted feature's library must not come back through another path).
	Tag string
}

// Layer is one storey of the house: packages may import their own storey
// and those below, never one above.
type Layer struct {
	Name     string
	Packages []string // patterns
}

// Policy is what Check holds the graphs to.
type Policy struct {
	Rules []Rule
	// Layers, bottom first. Commands (package main) are above them all.
	Layers []Layer
	// SelfContained packages import nothing of the project but their own
	// directory tree and the internal/ helpers of the bottom layer.
	SelfContained map[string]string // package -> why
	// Harness are test fixtures: no other package may reach them, so no
	// binary links a test server.
	Harness []string
	// MaxLines is the budget of every package's non-test lines in any
	// build; Budgets tightens it for some.
	MaxLines int
	Budgets  map[string]int
}

// Violation is one broken rule, with the builds it is broken in.
type Violation struct {
	ID     string   // stable across builds and line counts: what the known list names
	Detail string   // an import chain, a line count (the largest over the builds)
	Builds []string // where it was seen
	Of     int      // how many builds were checked
}

func (v Violation) String() string {
	where := strings.Join(v.Builds, "; ")
	if len(v.Builds) == v.Of {
		where = fmt.Sprintf("all %d builds", v.Of)
	} else if len(v.Builds) > 4 {
		where = fmt.Sprintf("%d of %d builds: %s; ...", len(v.Builds), v.Of, strings.Join(v.Builds[:4], "; "))
	}
	return fmt.Sprintf("%s: %s [%s]", v.ID, v.Detail, where)
}

// Known compares violations with a list of accepted ones (ID -> why):
// fail holds the violations not in it and the entries no longer violated
// (so the list only shrinks), accepted the ones it excuses.
func Known(vs []Violation, known map[string]string) (fail, accepted []string) {
	seen := map[string]bool{}
	for _, v := range vs {
		seen[v.ID] = true
		if why, ok := known[v.ID]; ok {
			accepted = append(accepted, fmt.Sprintf("%s (known: %s)", v, why))
			continue
		}
		fail = append(fail, v.String())
	}
	var gone []string
	for id := range known {
		if !seen[id] {
			gone = append(gone, fmt.Sprintf("known violation %q no longer happens: remove it from the known list", id))
		}
	}
	sort.Strings(gone)
	return append(fail, gone...), accepted
}

// Match reports whether pattern names the package at import path.
func Match(pattern, path string) bool {
	for _, full := range []string{pattern, Module + "/" + pattern} {
		if base, ok := strings.CutSuffix(full, "/..."); ok {
			if path == base || strings.HasPrefix(path, base+"/") {
				return true
			}
		} else if path == full {
			return true
		}
	}
	return false
}

func matchAny(patterns []string, path string) bool {
	for _, p := range patterns {
		if Match(p, path) {
			return true
		}
	}
	return false
}

// LayerOf is the index of path's layer in p.Layers (the most specific
// pattern wins), len(p.Layers) for commands, or -1 if none holds it.
func (p Policy) LayerOf(pkg *Package) int {
	if pkg.Name == "main" {
		return len(p.Layers)
	}
	best, bestLen := -1, -1
	for i, l := range p.Layers {
		for _, pat := range l.Packages {
			if Match(pat, pkg.ImportPath) && len(pat) > bestLen {
				best, bestLen = i, len(pat)
			}
		}
	}
	return best
}

func (p Policy) layerName(i int) string {
	if i == len(p.Layers) {
		return "command"
	}
	return p.Layers[i].Name
}

// Check returns every violation in any of the graphs, sorted by ID.
func (p Policy) Check(graphs []*Graph) []Violation {
	byID := map[string]*Violation{}
	lines := map[string]int{}
	add := func(b Build, id, detail string, n int) {
		v := byID[id]
		if v == nil {
			v = &Violation{ID: id, Detail: detail, Of: len(graphs)}
			byID[id] = v
		}
		if n > lines[id] {
			lines[id], v.Detail = n, detail+" ("+b.String()+")"
		}
		v.Builds = append(v.Builds, b.String())
	}
	for _, g := range graphs {
		p.check(g, func(id, detail string, n int) { add(g.Build, id, detail, n) })
	}
	out := make([]Violation, 0, len(byID))
	for _, v := range byID {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// check reports each violation in g; n orders a violation's details
// across builds (the largest line count wins).
func (p Policy) check(g *Graph, report0 func(id, detail string, n int)) {
	report := func(id, detail string) { report0(id, detail, 0) }
	var project []*Package
	for _, pkg := range g.Packages {
		if pkg.Project() {
			project = append(project, pkg)
		}
	}
	sort.Slice(project, func(i, j int) bool { return project[i].ImportPath < project[j].ImportPath })

	for _, pkg := range project {
		name := Rel(pkg.ImportPath)
		if pkg.Error != nil {
			report("go list: "+name, pkg.Error.Err)
		}

		// Size budgets.
		limit := p.MaxLines
		if b, ok := p.Budgets[name]; ok {
			limit = b
		}
		if limit > 0 && pkg.Lines > limit {
			report0("size: "+name, fmt.Sprintf("%d non-test lines, budget %d", pkg.Lines, limit), pkg.Lines)
		}

		// Layers, on direct imports (one way on every edge is one way on
		// every path).
		from := p.LayerOf(pkg)
		if from < 0 {
			report("unlayered: "+name, "add the package to a layer in deptest's policy")
		}
		for _, imp := range pkg.Imports {
			dep := g.Packages[imp]
			if dep == nil || !dep.Project() {
				continue
			}
			to := p.LayerOf(dep)
			if from >= 0 && to > from {
				report(fmt.Sprintf("layer: %s -> %s", name, Rel(imp)),
					fmt.Sprintf("%s (%s) imports %s (%s): dependencies point down, cmd -> gateway -> features -> parts -> leaves",
						name, p.layerName(from), Rel(imp), p.layerName(to)))
			}
			if why, ok := p.SelfContained[name]; ok && !sameTree(name, Rel(imp)) &&
				!(strings.HasPrefix(Rel(imp), "internal/") && to == 0) {
				report(fmt.Sprintf("self-contained: %s -> %s", name, Rel(imp)), why)
			}
		}

		// Forbidden edges and test fixtures, on every path.
		var parent map[string]string
		reach := func() map[string]string {
			if parent == nil {
				parent = reachable(g, pkg.ImportPath)
			}
			return parent
		}
		for _, r := range p.Rules {
			if r.Tag != "" && !g.Build.HasTag(r.Tag) || !Match(r.From, pkg.ImportPath) {
				continue
			}
			if dep := firstMatch(reach(), r.To); dep != "" {
				report(fmt.Sprintf("forbidden: %s -> %s", name, r.To),
					fmt.Sprintf("%s: %s", chain(reach(), pkg.ImportPath, dep), r.Why))
			}
		}
		if !matchAny(p.Harness, pkg.ImportPath) && pkg.Name != "main" {
			for _, h := range p.Harness {
				if dep := firstMatch(reach(), h); dep != "" {
					report(fmt.Sprintf("harness: %s -> %s", name, Rel(dep)),
						chain(reach(), pkg.ImportPath, dep)+": a test fixture must not be linked into the product")
				}
			}
		}
	}
}

func sameTree(a, b string) bool {
	top := func(s string) string { t, _, _ := strings.Cut(s, "/"); return t }
	return top(a) == top(b)
}

// reachable walks the imports from root breadth first and returns each
// reached package's parent on a shortest chain (root's parent is "").
func reachable(g *Graph, root string) map[string]string {
	parent := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		pkg := g.Packages[cur]
		if pkg == nil {
			continue
		}
		for _, imp := range pkg.Imports {
			if _, seen := parent[imp]; !seen {
				parent[imp] = cur
				queue = append(queue, imp)
			}
		}
	}
	return parent
}

// firstMatch is the reached package (not the root) matching pattern with
// the shortest name, so reports are stable.
func firstMatch(parent map[string]string, pattern string) string {
	best := ""
	for path, par := range parent {
		if par != "" && Match(pattern, path) && (best == "" || len(path) < len(best) || len(path) == len(best) && path < best) {
			best = path
		}
	}
	return best
}

func chain(parent map[string]string, root, dep string) string {
	var c []string
	for p := dep; p != ""; p = parent[p] {
		if isProject(p) {
			c = append(c, Rel(p))
		} else {
			c = append(c, p)
		}
	}
	for i, j := 0, len(c)-1; i < j; i, j = i+1, j-1 {
		c[i], c[j] = c[j], c[i]
	}
	return strings.Join(c, " -> ")
}
