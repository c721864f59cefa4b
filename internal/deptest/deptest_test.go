package deptest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// GOOSes are the systems licgate ships for (tools/dist AllTargets).
var GOOSes = []string{"linux", "windows", "darwin", "freebsd"}

// known are today's violations that the split of issue 24 removes. The
// test prints them, passes while they hold, and fails once one is gone, so
// whoever removes a violation removes its line and the list only shrinks.
// Do not add to it to make a new violation pass.
var known = map[string]string{}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func cacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "licgate-deptest")
}

var (
	loadOnce   sync.Once
	loadGraphs []*Graph
	loadErr    error
	loadBuilds []Build
)

// licgateGraphs lists every build once per test binary.
func licgateGraphs(t *testing.T) ([]*Graph, []Build) {
	t.Helper()
	root := moduleRoot(t)
	loadOnce.Do(func() {
		tags, err := ProjectTags(root, "")
		if err != nil {
			loadErr = err
			return
		}
		router, err := StringSliceVar(filepath.Join(root, "tools/dist/main.go"), "RouterTags")
		if err != nil {
			loadErr = err
			return
		}
		loadBuilds = Builds(GOOSes, tags, router)
		l := &Loader{Root: root, Cache: cacheDir()}
		loadGraphs, loadErr = l.Load(loadBuilds)
	})
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return loadGraphs, loadBuilds
}

func TestDependenciesPointOneWay(t *testing.T) {
	graphs, builds := licgateGraphs(t)
	var names []string
	for _, b := range builds {
		names = append(names, b.String())
	}
	t.Logf("%d builds: %s", len(builds), strings.Join(names, " | "))
	fail, accepted := Known(Licgate.Check(graphs), known)
	for _, s := range accepted {
		t.Log(s)
	}
	for _, s := range fail {
		t.Error(s)
	}
}
