package main

import (
	"os"
	"os/exec"
	"testing"
)

// CrossBuildPackages must compile for every release target on their own,
// whatever the state of the rest of the tree (tunnel/ and store/ may not).
var CrossBuildPackages = []string{"./buildinfo", "./service"}

func TestCrossBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles for every target")
	}
	for _, tg := range AllTargets {
		args := append([]string{"build", "-o", os.DevNull}, CrossBuildPackages...)
		cmd := exec.Command("go", args...)
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), tg.env()...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", tg, err, out)
		}
	}
}
