//go:build !licgate_omit_pprof

package adminapi

import (
	"net/http"
	"net/http/pprof"
)

// PprofBuilt reports whether this build can serve /debug/pprof.
const PprofBuilt = true

// mountPprof serves profiles, on the local socket only:
// `curl --unix-socket licgate.sock http://x/debug/pprof/heap`.
func mountPprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
}
