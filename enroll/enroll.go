package enroll

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/licgate/licgate/bundle"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/tunnel"
)

// Backend is what the enrolment page asks of the gateway.
type Backend interface {
	// Peek returns the link's enrolment without using it: store.ErrNotFound,
	// ErrUsed or ErrExpired when it cannot be used.
	Peek(ctx context.Context, tokenHash string) (store.Enrollment, error)
	// Enrol claims the link and creates its device in one transaction: if
	// the device cannot be created, the link stays unused. publicKey is
	// the user's own (canonical) key, or empty to generate a key pair.
	Enrol(ctx context.Context, tokenHash, from, publicKey string) (Result, error)
}

// Result is a device made through a link.
type Result struct {
	User, Device string
	// Gateway is the gateway's tunnel address (for cmu --add-server).
	Gateway string
	// Profile is the device's profile with its private key; nil when the
	// user brought their own key, then ProfileText holds the profile
	// without the private key.
	Profile     *tunnel.Profile
	ProfileText string
	// Pending is set when the device waits for an admin's approval
	// (signin.enrol.approval) until then: the page says so.
	Pending *time.Time
}

// ErrBadKey: the user's own key is not a WireGuard public key.
var ErrBadKey = errors.New("enroll: not a WireGuard public key")

// Server serves the public enrolment pages: GET /enroll/{token} shows
// what the link is for (without using it), POST uses it, and the files of
// the bundle are served from /enroll/{token}/{file} for DownloadFor after
// that, to whoever holds the link (single use covers the whole bundle for
// a short time). Everything else is a 404. Requests are rate-limited per
// source address (per /64 for IPv6).
type Server struct {
	b       Backend
	log     *slog.Logger
	limits  *lru.Cache[netip.Prefix, *rate.Limiter]
	bundles *lru.Cache[string, madeBundle]

	signin        SignInProvider // nil: no sign-in pages
	signinBackend SignInBackend
	signinEnrol   bool
	tickets       *lru.Cache[string, ticket] // device forms after an enrolment sign-in
	licenses      func() []bundle.License    // nil: the helpers set CodeMeter's server list only
}

// New returns the enrolment server; logger may be nil.
func New(b Backend, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// Spraying addresses evicts the least recently seen, never everyone's
	// limit (the limiter map was wiped whole at 10,000 before).
	limits, _ := lru.New[netip.Prefix, *rate.Limiter](100_000)
	bundles, _ := lru.New[string, madeBundle](1000)
	return &Server{b: b, log: logger, limits: limits, bundles: bundles}
}

// sourceKey is what the limiter counts: the address, or its /64 for IPv6
// (one home connection gets a whole /64).
func sourceKey(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	return netip.PrefixFrom(a, 32)
}

func (s *Server) allow(a netip.Addr) bool {
	k := sourceKey(a)
	lim, ok := s.limits.Get(k)
	if !ok {
		lim = rate.NewLimiter(rate.Every(6*time.Second), 10) // a person needs a handful; a scanner gets nowhere
		s.limits.Add(k, lim)
	}
	return lim.Allow()
}

// Handler is the public listener's whole handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	limited := func(h func(http.ResponseWriter, *http.Request, netip.AddrPort)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			src, _ := netip.ParseAddrPort(r.RemoteAddr)
			if !s.allow(src.Addr()) {
				w.Header().Set("Retry-After", "60")
				http.Error(w, "Too many requests: wait a minute and try again.", http.StatusTooManyRequests)
				return
			}
			h(w, r, src)
		}
	}
	mux.HandleFunc("GET /enroll/{token}", limited(s.serveChoice))
	mux.HandleFunc("POST /enroll/{token}", limited(s.serveEnrol))
	mux.HandleFunc("GET /enroll/{token}/{file}", limited(s.serveFile))
	s.signinRoutes(mux, limited)
	mux.HandleFunc("/", http.NotFound)
	return securityHeaders(mux)
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; form-action 'self'")
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		h.ServeHTTP(w, r)
	})
}

var deviceNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// TokenHash is how a link's token is stored: only its hash.
func TokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

//go:embed enroll.html
var enrollHTML string

var enrollTmpl = template.Must(template.New("enroll").Parse(enrollHTML))

type file struct {
	Name, Label, Href string
}

func page(w http.ResponseWriter, code int, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	enrollTmpl.Execute(w, data)
}

func (s *Server) refuse(w http.ResponseWriter, src netip.AddrPort, err error) {
	code, msg := http.StatusNotFound, "This enrolment link does not exist."
	switch {
	case errors.Is(err, store.ErrUsed):
		code, msg = http.StatusGone, "This enrolment link has already been used. Links work once: ask IT for a new one."
	case errors.Is(err, store.ErrExpired):
		code, msg = http.StatusGone, "This enrolment link has expired. Ask IT for a new one."
	case errors.Is(err, store.ErrNotFound):
	default:
		// Anything else is ours, not the visitor's: log it, show a plain
		// message, and never send internal error text to the internet.
		code, msg = http.StatusServiceUnavailable, "The device could not be set up just now. The link is still valid: try again in a few minutes, or ask IT."
		s.log.Error("enrolment failed", slog.String("source", src.String()), slog.String("err", err.Error()))
	}
	s.log.Info("enrolment link refused", slog.String("source", src.String()), slog.String("reason", err.Error()))
	page(w, code, map[string]any{"Error": msg})
}

// serveChoice shows what the link is for and the two ways to go on; it
// does not use the link up.
func (s *Server) serveChoice(w http.ResponseWriter, r *http.Request, src netip.AddrPort) {
	e, err := s.b.Peek(r.Context(), TokenHash(r.PathValue("token")))
	if err != nil {
		s.refuse(w, src, err)
		return
	}
	page(w, http.StatusOK, map[string]any{"Choice": true, "User": e.User, "Device": e.Device, "Expires": e.Expires.Format(time.RFC1123)})
}

// serveEnrol uses the link: it creates the device, with a key pair made
// for this page view (never stored) or the user's own public key.
func (s *Server) serveEnrol(w http.ResponseWriter, r *http.Request, src netip.AddrPort) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	own := ""
	if r.PostForm.Get("action") == "own" {
		raw := strings.TrimSpace(r.PostForm.Get("public_key"))
		k, err := tunnel.ParsePublicKey(raw)
		if err != nil {
			page(w, http.StatusBadRequest, map[string]any{"Error": "That is not a WireGuard public key (44 characters of base64, ending in =). The link is still valid: go back and try again."})
			return
		}
		own = k.String()
	}
	token := r.PathValue("token")
	res, err := s.b.Enrol(r.Context(), TokenHash(token), src.Addr().String(), own)
	if err != nil {
		if errors.Is(err, ErrBadKey) {
			page(w, http.StatusBadRequest, map[string]any{"Error": "That key cannot be used (it is another device's key, or not a valid key). The link is still valid: go back and try again."})
			return
		}
		s.refuse(w, src, err)
		return
	}
	s.showResult(w, src, token, res)
}

// showResult shows a new device: the profile around the user's own key,
// or the bundle (profile, QR code, helpers) downloadable from
// /enroll/<token>/<file> for DownloadFor.
func (s *Server) showResult(w http.ResponseWriter, src netip.AddrPort, token string, res Result) {
	pending := ""
	if res.Pending != nil {
		pending = res.Pending.Format(time.RFC1123)
	}
	if res.Profile == nil {
		page(w, http.StatusOK, map[string]any{"User": res.User, "Device": res.Device, "Gateway": res.Gateway, "Profile": res.ProfileText, "OwnKey": true,
			"Pending": pending})
		return
	}
	name := res.Device
	if len(name) > 15 {
		name = name[:15] // the interface name is the file's name: at most 15 characters
	}
	b, err := bundle.New(name, *res.Profile)
	if err != nil {
		s.refuse(w, src, err)
		return
	}
	if s.licenses != nil {
		b.Licenses = s.licenses()
	}
	files, err := b.Files()
	if err != nil {
		s.refuse(w, src, err)
		return
	}
	s.bundles.Add(TokenHash(token), madeBundle{files: files, until: time.Now().Add(DownloadFor)})
	labels := map[string]string{".conf": "WireGuard profile", ".png": "QR code", "-windows.ps1": "Windows helper", "-macos.sh": "macOS helper", "-linux.sh": "Linux helper"}
	var list []file
	for fn := range files {
		label := fn
		for suffix, l := range labels {
			if strings.HasSuffix(fn, suffix) {
				label = l
			}
		}
		list = append(list, file{Name: fn, Label: label, Href: "/enroll/" + token + "/" + fn})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	page(w, http.StatusOK, map[string]any{
		"User": res.User, "Device": res.Device, "Gateway": b.Gateway, "Files": list, "Profile": res.ProfileText,
		"QR":      template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(files[name+".png"])),
		"Minutes": int(DownloadFor.Minutes()), "Pending": pending,
	})
}

// madeBundle is a used link's files, downloadable until until.
type madeBundle struct {
	files map[string][]byte
	until time.Time
}

// DownloadFor is how long a used link's files stay downloadable.
const DownloadFor = 15 * time.Minute

// serveFile serves one file of a bundle made through this link.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, src netip.AddrPort) {
	mb, ok := s.bundles.Get(TokenHash(r.PathValue("token")))
	data, found := mb.files[r.PathValue("file")]
	if !ok || !found || time.Now().After(mb.until) {
		http.Error(w, "This download is no longer available: the files of an enrolment link can be downloaded for a few minutes after it was used.", http.StatusNotFound)
		return
	}
	ct := "application/octet-stream"
	if strings.HasSuffix(r.PathValue("file"), ".png") {
		ct = "image/png"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", `attachment; filename="`+r.PathValue("file")+`"`)
	w.Write(data)
	s.log.Info("enrolment file downloaded", slog.String("source", src.String()), slog.String("file", r.PathValue("file")))
}
