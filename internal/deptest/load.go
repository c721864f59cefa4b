package deptest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// Module is licgate's module path; rules and reports name packages
// relative to it ("gateway", "store/postgres").
const Module = "github.com/licgate/licgate"

// Build is one way the tree is compiled: a GOOS and a set of build tags.
type Build struct {
	GOOS string
	Tags []string // sorted
}

func (b Build) String() string {
	if len(b.Tags) == 0 {
		return b.GOOS
	}
	return b.GOOS + " -tags " + strings.Join(b.Tags, ",")
}

// HasTag reports whether the build sets tag.
func (b Build) HasTag(tag string) bool {
	for _, t := range b.Tags {
		if t == tag {
			return true
		}
	}
	return false
}

// Package is one package as one build sees it.
type Package struct {
	ImportPath string
	Name       string
	Standard   bool
	Dir        string                `json:",omitempty"`
	GoFiles    []string              `json:",omitempty"` // non-test files in this build
	CgoFiles   []string              `json:",omitempty"`
	Imports    []string              `json:",omitempty"` // direct, non-test
	Error      *struct{ Err string } `json:",omitempty"`
	Lines      int                   // non-test lines in this build (project packages only)
}

// Project reports whether p belongs to licgate's module.
func (p *Package) Project() bool { return isProject(p.ImportPath) }

func isProject(path string) bool { return path == Module || strings.HasPrefix(path, Module+"/") }

// Rel is the path relative to the module: "gateway", "store/postgres".
func Rel(path string) string {
	if path == Module {
		return "."
	}
	return strings.TrimPrefix(path, Module+"/")
}

// Graph is the import graph of one build: every package `go list -deps`
// reports for the module's packages, the standard library included.
type Graph struct {
	Build    Build
	Packages map[string]*Package // by import path
}

// Loader runs `go list -deps` for builds, in parallel, and keeps each
// result in Cache keyed by the build and a hash of every Go file, go.mod
// and go.sum under Root (and the overlay), so an unchanged tree is not
// listed twice.
type Loader struct {
	Root    string            // module root
	Overlay map[string]string // absolute file path -> content, as `go build -overlay`
	Cache   string            // directory; if empty, no cache
	Jobs    int               // concurrent go list runs; if zero, 2*GOMAXPROCS
	GoCmd   string            // if empty, "go"

	once    sync.Once
	treeSum string
	treeErr error
}

// Load lists every build. The first error wins.
func (l *Loader) Load(builds []Build) ([]*Graph, error) {
	jobs := l.Jobs
	if jobs <= 0 {
		jobs = 2 * runtime.GOMAXPROCS(0)
	}
	graphs := make([]*Graph, len(builds))
	errs := make([]error, len(builds))
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for i, b := range builds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			graphs[i], errs[i] = l.load(b)
		}()
	}
	wg.Wait()
	return graphs, errors.Join(errs...)
}

func (l *Loader) goCmd() string {
	if l.GoCmd != "" {
		return l.GoCmd
	}
	return "go"
}

// tree hashes the module's Go sources: the cache key, and (since the test
// process opens every file) what `go test` keys its own result cache on.
func (l *Loader) tree() (string, error) {
	l.once.Do(func() {
		h := sha256.New()
		fmt.Fprintf(h, "%s\n%s\n", runtime.Version(), os.Getenv("GOFLAGS"))
		l.treeErr = filepath.WalkDir(l.Root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if d.IsDir() {
				if path != l.Root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules") {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(name, ".go") && name != "go.mod" && name != "go.sum" {
				return nil
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			fmt.Fprintf(h, "%s\x00", path)
			_, err = io.Copy(h, f)
			return err
		})
		keys := make([]string, 0, len(l.Overlay))
		for k := range l.Overlay {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(h, "overlay %s\x00%s\x00", k, l.Overlay[k])
		}
		l.treeSum = hex.EncodeToString(h.Sum(nil))
	})
	if l.treeErr != nil {
		return "", fmt.Errorf("deptest: hashing %s: %w", l.Root, l.treeErr)
	}
	return l.treeSum, nil
}

func (l *Loader) load(b Build) (*Graph, error) {
	sum, err := l.tree()
	if err != nil {
		return nil, err
	}
	key := sha256.Sum256([]byte(sum + "\n" + b.String()))
	cacheFile := ""
	if l.Cache != "" {
		cacheFile = filepath.Join(l.Cache, hex.EncodeToString(key[:16])+".json")
		if data, err := os.ReadFile(cacheFile); err == nil {
			var g Graph
			if json.Unmarshal(data, &g) == nil && g.Build.String() == b.String() {
				return &g, nil
			}
		}
	}
	g, err := l.list(b)
	if err != nil {
		return nil, err
	}
	if cacheFile != "" {
		if data, err := json.Marshal(g); err == nil {
			// A failed write only costs the next run a go list.
			if os.MkdirAll(l.Cache, 0o755) == nil {
				tmp := cacheFile + ".tmp" + fmt.Sprint(os.Getpid())
				if os.WriteFile(tmp, data, 0o644) == nil {
					os.Rename(tmp, cacheFile)
				}
			}
		}
	}
	return g, nil
}

func (l *Loader) list(b Build) (*Graph, error) {
	args := []string{"list", "-e", "-deps", "-json=ImportPath,Name,Standard,Dir,GoFiles,CgoFiles,Imports,Error"}
	if len(b.Tags) > 0 {
		args = append(args, "-tags", strings.Join(b.Tags, ","))
	}
	if len(l.Overlay) > 0 {
		ov := struct{ Replace map[string]string }{map[string]string{}}
		dir, err := os.MkdirTemp("", "deptest-overlay")
		if err != nil {
			return nil, fmt.Errorf("deptest: overlay: %w", err)
		}
		defer os.RemoveAll(dir)
		i := 0
		for path, content := range l.Overlay {
			f := filepath.Join(dir, fmt.Sprintf("%d.go", i))
			i++
			if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
				return nil, fmt.Errorf("deptest: overlay: %w", err)
			}
			ov.Replace[path] = f
		}
		data, _ := json.Marshal(ov)
		ovFile := filepath.Join(dir, "overlay.json")
		if err := os.WriteFile(ovFile, data, 0o644); err != nil {
			return nil, fmt.Errorf("deptest: overlay: %w", err)
		}
		args = append(args, "-overlay", ovFile)
	}
	args = append(args, "./...")
	cmd := exec.Command(l.goCmd(), args...)
	cmd.Dir = l.Root
	cmd.Env = append(os.Environ(), "GOOS="+b.GOOS, "GOARCH=amd64", "CGO_ENABLED=0") // as tools/dist builds
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("deptest: go %s (GOOS=%s): %w: %s", strings.Join(args, " "), b.GOOS, err, stderr.String())
	}
	g := &Graph{Build: b, Packages: map[string]*Package{}}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		p := new(Package)
		if err := dec.Decode(p); err != nil {
			return nil, fmt.Errorf("deptest: reading go list output (%s): %w", b, err)
		}
		if p.Project() {
			n, err := countLines(p.Dir, append(append([]string(nil), p.GoFiles...), p.CgoFiles...), l.Overlay)
			if err != nil {
				return nil, err
			}
			p.Lines = n
		} else {
			p.Dir, p.GoFiles, p.CgoFiles = "", nil, nil // keep the cache small
		}
		g.Packages[p.ImportPath] = p
	}
	return g, nil
}

// countLines counts lines the way `wc -l` does (so the budgets read like
// the numbers in issues).
func countLines(dir string, files []string, overlay map[string]string) (int, error) {
	n := 0
	for _, f := range files {
		path := filepath.Join(dir, f)
		content, ok := overlay[path]
		data := []byte(content)
		if !ok {
			var err error
			if data, err = os.ReadFile(path); err != nil {
				return 0, fmt.Errorf("deptest: counting lines: %w", err)
			}
		}
		n += bytes.Count(data, []byte("\n"))
	}
	return n, nil
}
