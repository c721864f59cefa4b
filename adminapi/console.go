//go:build !licgate_omit_console

package adminapi

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed console
var consoleFS embed.FS

// consoleHandler serves the web console: static files embedded in the
// binary (no CDN, no framework), talking to /api/v1.
func consoleHandler() http.Handler {
	sub, _ := fs.Sub(consoleFS, "console")
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		files.ServeHTTP(w, r)
	})
}

// ConsoleBuilt reports whether this build embeds the web console (false
// in builds made with the licgate_omit_console tag).
const ConsoleBuilt = true
