package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/bundle"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/tunnel"
)

// startPublic serves enrolment links over HTTPS. Certificates come from
// certmagic with licgate's internal CA as issuer.
func (g *Gateway) startPublic(ctx context.Context) error {
	p := g.conf().Public
	acme, err := g.publicACME()
	if err != nil {
		return err
	}
	tlsCfg, err := g.certs.PublicTLS(ctx, p.Name, acme)
	if err != nil {
		return fmt.Errorf("public listener: %w", err)
	}
	ln, err := net.Listen("tcp", p.Listen)
	if err != nil {
		return fmt.Errorf("public listener %s: %w", p.Listen, err)
	}
	g.publicLn = ln
	g.publicSrv = &http.Server{Handler: g.publicHandler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelDebug)}
	g.wg.Add(1)
	go g.servePublic(tls.NewListener(ln, tlsCfg))
	g.log.Info("public listener up", slog.String("listen", ln.Addr().String()), slog.String("name", p.Name))
	return nil
}

func (g *Gateway) servePublic(ln net.Listener) {
	defer g.wg.Done()
	if err := g.publicSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		g.log.Error("public listener stopped", slog.String("err", err.Error()))
	}
}

// PublicAddr is the public listener's address (nil if none).
func (g *Gateway) PublicAddr() net.Addr {
	if g.publicLn == nil {
		return nil
	}
	return g.publicLn.Addr()
}

// CARoot is the internal CA's certificate (PEM), once the public listener started it.
func (g *Gateway) CARoot() ([]byte, error) {
	return g.certs.RootPEM()
}

// limiter allows each source a few enrolment page views a minute.
type limiter struct {
	mu sync.Mutex
	m  map[netip.Addr]*rate.Limiter
}

func (l *limiter) allow(a netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil || len(l.m) > 10000 {
		l.m = map[netip.Addr]*rate.Limiter{}
	}
	lim, ok := l.m[a]
	if !ok {
		lim = rate.NewLimiter(rate.Every(6*time.Second), 10) // a person needs a handful; a scanner gets nowhere
		l.m[a] = lim
	}
	return lim.Allow()
}

// publicHandler serves GET /enroll/{token}; everything else is a 404.
func (g *Gateway) publicHandler() http.Handler {
	var lim limiter
	mux := http.NewServeMux()
	limited := func(h func(http.ResponseWriter, *http.Request, netip.AddrPort)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			src, _ := netip.ParseAddrPort(r.RemoteAddr)
			if !lim.allow(src.Addr()) {
				http.Error(w, "Too many requests: wait a minute and try again.", http.StatusTooManyRequests)
				return
			}
			h(w, r, src)
		}
	}
	mux.HandleFunc("GET /enroll/{token}", limited(g.serveEnrollChoice))
	mux.HandleFunc("POST /enroll/{token}", limited(g.serveEnroll))
	mux.HandleFunc("/", http.NotFound)
	return securityHeaders(mux)
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src data:; style-src 'unsafe-inline'")
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		h.ServeHTTP(w, r)
	})
}

func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// CreateEnrollLink makes a single-use link that enrols device for user:
// the first visit generates the key pair, creates the device and shows the
// profile, QR code and helpers; only a hash of the token is stored.
func (g *Gateway) CreateEnrollLink(ctx context.Context, user, device string, ttl time.Duration) (string, time.Time, error) {
	if g.conf().Public.Listen == "" {
		return "", time.Time{}, fmt.Errorf("gateway: enrolment links need the public listener (public.listen in licgate.yaml)")
	}
	if ttl <= 0 {
		ttl = g.conf().Public.LinkTTL.Duration
	}
	if _, err := g.st.Device(ctx, user, device); err == nil {
		return "", time.Time{}, fmt.Errorf("gateway: device %s/%s: %w", user, device, store.ErrExists)
	}
	b := make([]byte, 32)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	expires := time.Now().Add(ttl)
	if err := g.st.CreateEnrollment(ctx, tokenHash(token), user, device, expires); err != nil {
		return "", time.Time{}, err
	}
	host := g.conf().Public.Name
	if _, port, err := net.SplitHostPort(g.PublicAddr().String()); err == nil && port != "443" {
		host = net.JoinHostPort(host, port)
	}
	g.auditEvent(audit.ActorOf(ctx), "enroll.link", fmt.Sprintf("%s/%s expires %s", user, device, expires.UTC().Format(time.RFC3339)))
	return "https://" + host + "/enroll/" + token, expires, nil
}

//go:embed enroll.html
var enrollHTML string

var enrollTmpl = template.Must(template.New("enroll").Parse(enrollHTML))

type enrollFile struct {
	Name, Label, Href string
}

func (g *Gateway) enrollError(w http.ResponseWriter, src netip.AddrPort, err error) {
	code, msg := http.StatusNotFound, "This enrolment link does not exist."
	switch {
	case errors.Is(err, store.ErrUsed):
		code, msg = http.StatusGone, "This enrolment link has already been used. Links work once: ask IT for a new one."
	case errors.Is(err, store.ErrExpired):
		code, msg = http.StatusGone, "This enrolment link has expired. Ask IT for a new one."
	}
	g.log.Info("enrolment link refused", slog.String("source", src.String()), slog.String("reason", err.Error()))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	enrollTmpl.Execute(w, map[string]any{"Error": msg})
}

// serveEnrollChoice shows what the link is for and the two ways to go on;
// it does not use the link up.
func (g *Gateway) serveEnrollChoice(w http.ResponseWriter, r *http.Request, src netip.AddrPort) {
	e, err := g.st.PeekEnrollment(r.Context(), tokenHash(r.PathValue("token")))
	if err != nil {
		g.enrollError(w, src, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	enrollTmpl.Execute(w, map[string]any{"Choice": true, "User": e.User, "Device": e.Device, "Expires": e.Expires.Format(time.RFC1123)})
}

// serveEnroll uses the link: it creates the device, with a key pair made
// for this page view (never stored) or the user's own public key.
func (g *Gateway) serveEnroll(w http.ResponseWriter, r *http.Request, src netip.AddrPort) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	own := strings.TrimSpace(r.PostForm.Get("public_key"))
	if r.PostForm.Get("action") == "own" {
		if _, err := tunnel.ParseKey(own); err != nil {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusBadRequest)
			enrollTmpl.Execute(w, map[string]any{"Error": "That is not a WireGuard public key (44 characters of base64, ending in =). The link is still valid: go back and try again."})
			return
		}
	} else {
		own = ""
	}
	e, err := g.st.ClaimEnrollment(r.Context(), tokenHash(r.PathValue("token")), src.Addr().String())
	if err != nil {
		g.enrollError(w, src, err)
		return
	}
	res, err := g.AddDevice(audit.WithActor(r.Context(), "enrolment link from "+src.Addr().String()), e.User, e.Device, own)
	if err != nil {
		http.Error(w, "The device could not be created: "+err.Error(), http.StatusConflict)
		return
	}
	if res.Profile == nil {
		// The user keeps their private key: show what goes around it.
		p := g.profile(res.Device, tunnel.Key{})
		text := strings.Replace(p.String(), "PrivateKey = "+tunnel.Key{}.String(), "# PrivateKey = (your own private key)", 1)
		g.auditEvent("enrolment link from "+src.Addr().String(), "device.enrolled", fmt.Sprintf("%s/%s with own key by %s", e.User, e.Device, src))
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		enrollTmpl.Execute(w, map[string]any{"User": e.User, "Device": e.Device, "Gateway": g.conf().Tunnel.Address, "Profile": text, "OwnKey": true})
		return
	}
	name := e.Device
	if len(name) > 15 {
		name = name[:15]
	}
	b, err := bundle.New(name, *res.Profile)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	files, err := b.Files()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	labels := map[string]string{".conf": "WireGuard profile", ".png": "QR code", "-windows.ps1": "Windows helper", "-macos.sh": "macOS helper", "-linux.sh": "Linux helper"}
	var list []enrollFile
	for fn, data := range files {
		label := fn
		for suffix, l := range labels {
			if strings.HasSuffix(fn, suffix) {
				label = l
			}
		}
		list = append(list, enrollFile{Name: fn, Label: label, Href: "data:application/octet-stream;base64," + base64.StdEncoding.EncodeToString(data)})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	g.auditEvent("enrolment link from "+src.Addr().String(), "device.enrolled", fmt.Sprintf("%s/%s downloaded by %s", e.User, e.Device, src))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	enrollTmpl.Execute(w, map[string]any{
		"User": e.User, "Device": e.Device, "Gateway": b.Gateway, "Files": list, "Profile": res.ProfileText,
		"QR": template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(files[name+".png"])),
	})
}
