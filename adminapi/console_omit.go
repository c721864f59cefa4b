//go:build licgate_omit_console

package adminapi

import (
	"errors"
	"net/http"
)

// ErrConsoleOmitted is what the console's paths answer (404) in a build
// made with the licgate_omit_console tag (the router build).
var ErrConsoleOmitted = errors.New("the web console is not in this build (licgate_omit_console): use the licgate CLI (licgate admin ...) or the admin API /api/v1")

// ConsoleBuilt reports whether this build embeds the web console.
const ConsoleBuilt = false

// consoleHandler answers the console's paths with 404 and
// ErrConsoleOmitted; the admin API beside it is unchanged.
func consoleHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		writeErr(w, http.StatusNotFound, ErrConsoleOmitted)
	})
}
