package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"

	"github.com/licgate/licgate/bench/internal/benchkit"
	"github.com/licgate/licgate/bench/internal/proxycmp"
	"github.com/licgate/licgate/bench/internal/realpath"
)

// runRole runs this copy of the benchmark in the role named by
// benchkit.RoleEnv (see benchkit.Child): the test server, licgate's proxy
// alone (LICGATE_BENCH_PROXY_PROCS sets its GOMAXPROCS), or the real
// path's license server stand-in.
func runRole(role string) {
	switch role {
	case "server":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		fmt.Println(ln.Addr())
		benchkit.Serve(ln)
	case "proxy":
		if n, err := strconv.Atoi(os.Getenv("LICGATE_BENCH_PROXY_PROCS")); err == nil && n > 0 {
			runtime.GOMAXPROCS(n)
		}
		proxycmp.ProxyRole()
	case "lanserver":
		realpath.LANServer()
	default:
		fmt.Fprintf(os.Stderr, "unknown role %q\n", role)
		os.Exit(2)
	}
}
