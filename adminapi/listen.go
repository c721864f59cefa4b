package adminapi

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/licgate/licgate/audit"
)

// Options shape the handler for one listener.
type Options struct {
	// Metrics, if set, is served at GET /metrics.
	Metrics http.Handler
	// Pprof mounts /debug/pprof: the local socket only.
	Pprof bool
	// Mount adds the routes of API parts kept in packages of their own
	// (adminapi/approval); they sit behind the same protection.
	Mount []func(*http.ServeMux)
}

// Handler is the versioned JSON admin API (/api/v1/...) and the console,
// with cross-origin protection: a state-changing request that a browser
// marks as cross-site (Sec-Fetch-Site, or an Origin that is not the
// host) is refused, so a page an admin visits cannot act through the
// admin's WireGuard identity; JSON endpoints also require
// Content-Type: application/json, which an HTML form cannot send.
func Handler(b Backend, o Options) http.Handler {
	mux := newMux(b, o)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusForbidden, errors.New("cross-origin request refused: use the console at its own address or the CLI"))
	}))
	return cop.Handler(mux)
}

// requireJSON refuses a body that does not say it is JSON (415).
func requireJSON(w http.ResponseWriter, r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeErr(w, http.StatusUnsupportedMediaType, errors.New("request body must be Content-Type: application/json"))
		return false
	}
	return true
}

// Limits of every admin listener. A flood of idle or slow connections on
// the admin side must never take file descriptors from license sessions.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 2 * time.Minute // reports over a long period
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 64 << 10
	// MaxConns is how many connections each admin listener holds at once;
	// more wait in the kernel's backlog.
	MaxConns = 64
)

// NewServer is an http.Server with licgate's admin timeouts and limits.
// Serve it on a LimitListener: while it serves a request, that request's
// connection is never closed to make room for another.
func NewServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{Handler: markBusy(h), ConnContext: connContext, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
}

// LimitListener bounds the connections ln hands out at once: MaxConns in
// all, MaxConnsPerSource from one address. It never blocks Accept: when
// a budget is full, the oldest connection that is not being served (it
// has not sent a whole request header, or is idle) of the source holding
// the most is closed to make room (see guard). Serve it with NewServer.
func LimitListener(ln net.Listener) net.Listener {
	return &guardedListener{Listener: ln, g: newGuard(MaxConns, MaxConnsPerSource)}
}

// ListenSocket listens on the unix socket at path (0660, so the group of
// the state directory, e.g. licgate, can use the CLI without root). A
// stale socket from a crashed daemon is replaced; a live one is an error.
func ListenSocket(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("adminapi: socket: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("adminapi: socket %s: another licgate is running", path)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("adminapi: socket: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("adminapi: socket: %w", err)
	}
	return LimitListener(ln), nil
}

// AsActor marks every request with actor (the local socket).
func AsActor(actor string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(audit.WithActor(r.Context(), actor)))
	})
}

// AdminCheck says whether the device at a tunnel address may administer,
// and names it ("alice/laptop") for the log and the audit; reason says
// why not.
type AdminCheck func(addr netip.Addr) (who string, ok bool, reason string)

// TunnelAdmin lets through only what check allows: members of the admin
// group, identified by their WireGuard key (the tunnel source address).
func TunnelAdmin(check AdminCheck, log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		src, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			writeErr(w, http.StatusForbidden, errors.New("unknown source"))
			return
		}
		who, ok, reason := check(src.Addr())
		if !ok {
			log.Info("admin access refused", slog.String("from", who), slog.String("path", r.URL.Path))
			writeErr(w, http.StatusForbidden, errors.New(reason))
			return
		}
		h.ServeHTTP(w, r.WithContext(audit.WithActor(r.Context(), who)))
	})
}

// TokenAuth requires "Authorization: Bearer <token>" (the LAN listener).
// Wrong guesses are limited per source address: a few a minute, so a
// token of 20+ random characters cannot be guessed. While an address is
// blocked, every request from it gets 429, the right token included:
// otherwise the block would be an oracle for the guesser.
func TokenAuth(token string, log *slog.Logger, h http.Handler) http.Handler {
	lim := &failLimiter{m: map[netip.Addr]*rate.Limiter{}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		src, _ := netip.ParseAddrPort(r.RemoteAddr)
		if !lim.allowed(src.Addr()) {
			w.Header().Set("Retry-After", "60")
			// The right token is refused too: answering it differently would
			// let a blocked guesser go on guessing (docs/security.md says
			// what an admin behind the same address does).
			writeErr(w, http.StatusTooManyRequests, errors.New("too many wrong tokens from this address; wait a minute "+
				"(or use the console inside the tunnel, or sudo licgate on the gateway)"))
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			lim.failed(src.Addr())
			log.Info("admin token refused", slog.String("from", src.String()))
			writeErr(w, http.StatusUnauthorized, errors.New("missing or wrong bearer token"))
			return
		}
		h.ServeHTTP(w, r.WithContext(audit.WithActor(r.Context(), "lan-token from "+src.Addr().String())))
	})
}

// failLimiter allows each source 5 failures in a burst, then one a
// minute. It forgets quiet sources, and never holds more than maxSources.
type failLimiter struct {
	mu sync.Mutex
	m  map[netip.Addr]*rate.Limiter
}

const maxSources = 4096

func (f *failLimiter) get(a netip.Addr) *rate.Limiter {
	l, ok := f.m[a]
	if !ok {
		if len(f.m) >= maxSources {
			// Drop the ones that are full again (have forgotten their failures).
			now := time.Now()
			for k, v := range f.m {
				if v.TokensAt(now) >= 5 {
					delete(f.m, k)
				}
			}
			if len(f.m) >= maxSources {
				return nil // all under attack: refuse new sources too (fail closed)
			}
		}
		l = rate.NewLimiter(rate.Every(time.Minute), 5)
		f.m[a] = l
	}
	return l
}

func (f *failLimiter) allowed(a netip.Addr) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.get(a)
	return l != nil && l.Tokens() >= 1
}

func (f *failLimiter) failed(a netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l := f.get(a); l != nil {
		l.Allow()
	}
}
