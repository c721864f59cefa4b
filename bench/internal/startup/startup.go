package startup

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/licgate/licgate/bench/internal/benchkit"
)

// Run prints section 8: it times `licgate serve` with 10,000 devices in
// the store until its API answers, runs times, alternating with the
// baseline binary if there is one: wall time and the CPU time licgate used until
// then (utime+stime from /proc, which depends much less on what else the
// machine is running than wall time does).
func Run(lg benchkit.Licgate, runs int) error {
	fmt.Printf("## 8. Start with 10,000 devices in the store (to API ready), %d runs\n\n", runs)
	bin := filepath.Join(os.TempDir(), fmt.Sprintf("lgbench-licgate-%d", os.Getpid()))
	if err := benchkit.BuildLicgate(bin); err != nil {
		return err
	}
	defer os.Remove(bin)
	type row struct {
		name      string
		bin       string
		wall, cpu []time.Duration
	}
	rows := []*row{{name: "this tree", bin: bin}}
	if lg.Baseline != "" {
		rows = append(rows, &row{name: "baseline (" + lg.Baseline + ")", bin: lg.Baseline})
	}
	for r := 0; r < runs; r++ {
		for _, rw := range rows {
			gw, d, err := lg.StartGateway(rw.bin, 10000, "127.0.0.1:9", nil)
			if err != nil {
				return fmt.Errorf("%s: %w", rw.name, err)
			}
			cpu := time.Duration(benchkit.CPUTicks(gw.Cmd.Process.Pid)) * 10 * time.Millisecond
			gw.Stop()
			rw.wall, rw.cpu = append(rw.wall, d), append(rw.cpu, cpu)
		}
	}
	fmt.Println("| licgate | wall time to API ready, median (runs) | CPU time to API ready, median |\n|---|---|---|")
	for _, rw := range rows {
		fmt.Printf("| %s | %s (%s) | %s |\n", rw.name, benchkit.MedianDur(rw.wall).Round(time.Millisecond), roundAll(rw.wall), benchkit.MedianDur(rw.cpu).Round(time.Millisecond))
	}
	fmt.Println()
	if len(rows) == 2 {
		var w, c []float64
		for i := range rows[0].wall {
			w = append(w, float64(rows[0].wall[i])/float64(rows[1].wall[i]))
			c = append(c, float64(rows[0].cpu[i])/float64(max(rows[1].cpu[i], 1)))
		}
		fmt.Printf("This tree / baseline, medians of per-pair ratios: wall %.2fx, CPU %.2fx\n\n", benchkit.Median(w), benchkit.Median(c))
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
