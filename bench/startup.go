package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// baselineBin is a licgate binary to measure against in the same run
// (-baseline): a row of its own in the real path section (netstack) and
// paired runs in the startup section. Build it from an older commit, e.g.
// `git worktree add /tmp/lg-old <commit> && (cd /tmp/lg-old && go build -o /tmp/licgate-old ./cmd/licgate)`.
var baselineBin string

// startupRuns is how many paired runs the startup section makes.
var startupRuns = 5

// startupSection times `licgate serve` with 10,000 devices in the store
// until its API answers, several times, alternating with the baseline
// binary if there is one: wall time and the CPU time licgate used until
// then (utime+stime from /proc, which depends much less on what else the
// machine is running than wall time does).
func startupSection() error {
	fmt.Printf("## 8. Start with 10,000 devices in the store (to API ready), %d runs\n\n", startupRuns)
	bin := filepath.Join(os.TempDir(), fmt.Sprintf("lgbench-licgate-%d", os.Getpid()))
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/licgate/licgate/cmd/licgate").CombinedOutput(); err != nil {
		return fmt.Errorf("build licgate: %v\n%s", err, out)
	}
	defer os.Remove(bin)
	type row struct {
		name      string
		bin       string
		wall, cpu []time.Duration
	}
	rows := []*row{{name: "this tree", bin: bin}}
	if baselineBin != "" {
		rows = append(rows, &row{name: "baseline (" + baselineBin + ")", bin: baselineBin})
	}
	for r := 0; r < startupRuns; r++ {
		for _, rw := range rows {
			gw, d, err := startGateway(rw.bin, 10000, "127.0.0.1:9", nil)
			if err != nil {
				return fmt.Errorf("%s: %w", rw.name, err)
			}
			cpu := time.Duration(cpuTicks(gw.cmd.Process.Pid)) * 10 * time.Millisecond
			gw.stop()
			rw.wall, rw.cpu = append(rw.wall, d), append(rw.cpu, cpu)
		}
	}
	fmt.Println("| licgate | wall time to API ready, median (runs) | CPU time to API ready, median |\n|---|---|---|")
	for _, rw := range rows {
		fmt.Printf("| %s | %s (%s) | %s |\n", rw.name, medianDur(rw.wall).Round(time.Millisecond), roundAll(rw.wall), medianDur(rw.cpu).Round(time.Millisecond))
	}
	fmt.Println()
	if len(rows) == 2 {
		var w, c []float64
		for i := range rows[0].wall {
			w = append(w, float64(rows[0].wall[i])/float64(rows[1].wall[i]))
			c = append(c, float64(rows[0].cpu[i])/float64(max(rows[1].cpu[i], 1)))
		}
		fmt.Printf("This tree / baseline, medians of per-pair ratios: wall %.2fx, CPU %.2fx\n\n", median(w), median(c))
	}
	return nil
}

func roundAll(ds []time.Duration) string {
	out := ""
	for i, d := range ds {
		if i > 0 {
			out += ", "
		}
		out += d.Round(time.Millisecond).String()
	}
	return out
}
