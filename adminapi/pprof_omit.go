//go:build licgate_omit_pprof

package adminapi

import (
	"errors"
	"net/http"
)

// ErrPprofOmitted is what /debug/pprof answers (404) in a build made with
// the licgate_omit_pprof tag (the router build): net/http/pprof and
// runtime/pprof are about 200 KB there.
var ErrPprofOmitted = errors.New("profiles are not in this build (licgate_omit_pprof)")

// PprofBuilt reports whether this build can serve /debug/pprof.
const PprofBuilt = false

func mountPprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, ErrPprofOmitted)
	})
}
