package gateway

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/licgate/licgate/config"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/ddns"
	"github.com/licgate/licgate/store"
)

// startAPI serves the admin API on the unix socket (0600). A stale socket
// from a crashed daemon is replaced; a live one is an error.
func (g *Gateway) startAPI() error {
	path := g.cfg.Socket
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("api socket: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("api socket %s: another licgate is running", path)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("api socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("api socket: %w", err)
	}
	g.apiLn = ln
	h := g.Handler()
	g.apiSrv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(WithActor(r.Context(), "unix-socket")))
	}), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelWarn)}
	g.wg.Add(1)
	go g.serveAPI(ln)
	return nil
}

func (g *Gateway) serveAPI(ln net.Listener) {
	defer g.wg.Done()
	if err := g.apiSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		g.log.Error("api stopped", slog.String("err", err.Error()))
	}
}

// Handler is the versioned JSON admin API, /api/v1/...
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/health", g.apiHealth)
	mux.HandleFunc("GET /api/v1/users", g.apiUsers)
	mux.HandleFunc("POST /api/v1/users", g.apiAddUser)
	mux.HandleFunc("POST /api/v1/users/{name}/disable", g.apiDisableUser(true))
	mux.HandleFunc("POST /api/v1/users/{name}/enable", g.apiDisableUser(false))
	mux.HandleFunc("POST /api/v1/users/{name}/expiry", g.apiExpiry(false))
	mux.HandleFunc("POST /api/v1/devices/{user}/{name}/expiry", g.apiExpiry(true))
	mux.HandleFunc("GET /api/v1/devices", g.apiDevices)
	mux.HandleFunc("POST /api/v1/devices", g.apiAddDevice)
	mux.HandleFunc("POST /api/v1/devices/{user}/{name}/revoke", g.apiRevokeDevice)
	mux.HandleFunc("POST /api/v1/devices/{user}/{name}/rekey", g.apiRekeyDevice)
	mux.HandleFunc("GET /api/v1/sessions", g.apiSessions)
	mux.HandleFunc("POST /api/v1/sessions/{id}/cut", g.apiCutSession)
	mux.HandleFunc("GET /api/v1/groups", g.apiGroups)
	mux.HandleFunc("POST /api/v1/enrollments", g.apiEnroll)
	mux.HandleFunc("GET /api/v1/ca", g.apiCA)
	mux.HandleFunc("GET /api/v1/services", g.apiServices)
	mux.HandleFunc("GET /api/v1/certs", g.apiCerts)
	console := consoleHandler()
	for _, path := range []string{"GET /{$}", "GET /index.html", "GET /app.js", "GET /style.css"} {
		mux.Handle(path, console)
	}
	mux.HandleFunc("GET /api/v1/peers", g.apiPeers)
	mux.HandleFunc("GET /api/v1/policy", g.apiPolicy)
	mux.HandleFunc("POST /api/v1/policy/explain", g.apiExplain)
	mux.HandleFunc("POST /api/v1/policy/reload", g.apiReload)
	mux.HandleFunc("GET /api/v1/report", g.apiReport)
	mux.HandleFunc("GET /api/v1/audit/denials", g.apiDenials)
	mux.HandleFunc("GET /api/v1/ddns", g.apiDDNS)
	mux.HandleFunc("POST /api/v1/ddns/update", g.apiDDNSUpdate)
	mux.Handle("GET /metrics", g.metrics.handler())
	// Profiles, on the local socket only (the tunnel listener does not
	// mount them): `curl --unix-socket licgate.sock http://x/debug/pprof/heap`.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, fmt.Errorf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// APIError is the body of every non-2xx answer.
type APIError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeErr(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, APIError{Error: err.Error()})
}

// statusOf maps store errors onto HTTP codes.
func statusOf(err error) int {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrExists):
		return http.StatusConflict
	case errors.Is(err, store.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrExhausted):
		return http.StatusInsufficientStorage
	}
	return http.StatusInternalServerError
}

// decode reads a strict JSON body: unknown fields and trailing data are
// errors, and required fields must be present.
func decode(w http.ResponseWriter, r *http.Request, v any, required map[string]func() bool) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("request body: %w", err))
		return false
	}
	if dec.More() {
		writeErr(w, http.StatusBadRequest, errors.New("request body: trailing data after the JSON object"))
		return false
	}
	for field, ok := range required {
		if !ok() {
			writeJSON(w, http.StatusBadRequest, APIError{Error: "missing required field " + field, Field: field})
			return false
		}
	}
	return true
}

// Health is GET /api/v1/health.
type Health struct {
	Status     string `json:"status"`
	PublicKey  string `json:"public_key"`
	ListenPort int    `json:"listen_port"`
	Address    string `json:"address"`
	Endpoint   string `json:"endpoint"`
	Sessions   int    `json:"sessions"`
	Devices    int    `json:"devices"`
}

func (g *Gateway) apiHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, Health{Status: "ok", PublicKey: g.PublicKey().String(), ListenPort: g.ListenPort(),
		Address: g.cfg.Tunnel.Address, Endpoint: g.cfg.Tunnel.Endpoint, Sessions: g.SessionCount(), Devices: len(*g.idents.Load())})
}

func (g *Gateway) apiUsers(w http.ResponseWriter, r *http.Request) {
	us, err := g.Users(r.Context())
	if err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	if us == nil {
		us = []store.User{}
	}
	writeJSON(w, http.StatusOK, us)
}

// AddUserRequest is POST /api/v1/users.
type AddUserRequest struct {
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
}

func (g *Gateway) apiAddUser(w http.ResponseWriter, r *http.Request) {
	var req AddUserRequest
	if !decode(w, r, &req, map[string]func() bool{"name": func() bool { return req.Name != "" }}) {
		return
	}
	u, err := g.AddUser(r.Context(), req.Name, req.Email)
	if err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

// CutResult answers calls that may cut sessions.
type CutResult struct {
	SessionsCut int `json:"sessions_cut"`
}

func (g *Gateway) apiDisableUser(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n, err := g.SetUserDisabled(r.Context(), r.PathValue("name"), disabled)
		if err != nil {
			writeErr(w, statusOf(err), err)
			return
		}
		writeJSON(w, http.StatusOK, CutResult{SessionsCut: n})
	}
}

func (g *Gateway) apiDevices(w http.ResponseWriter, r *http.Request) {
	ds, err := g.Devices(r.Context(), r.URL.Query().Get("all") == "1")
	if err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	if ds == nil {
		ds = []store.Device{}
	}
	writeJSON(w, http.StatusOK, ds)
}

// AddDeviceRequest is POST /api/v1/devices. Without PublicKey the
// gateway generates the key pair and returns the profile once.
type AddDeviceRequest struct {
	User      string `json:"user"`
	Name      string `json:"name"`
	PublicKey string `json:"public_key,omitempty"`
}

func (g *Gateway) apiAddDevice(w http.ResponseWriter, r *http.Request) {
	var req AddDeviceRequest
	if !decode(w, r, &req, map[string]func() bool{
		"user": func() bool { return req.User != "" },
		"name": func() bool { return req.Name != "" },
	}) {
		return
	}
	res, err := g.AddDevice(r.Context(), req.User, req.Name, req.PublicKey)
	if err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	withQR(&res)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, res)
}

func (g *Gateway) apiRevokeDevice(w http.ResponseWriter, r *http.Request) {
	n, err := g.RevokeDevice(r.Context(), r.PathValue("user"), r.PathValue("name"))
	if err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, CutResult{SessionsCut: n})
}

// RekeyRequest is POST /api/v1/devices/{user}/{name}/rekey.
type RekeyRequest struct {
	PublicKey string `json:"public_key,omitempty"`
}

func (g *Gateway) apiRekeyDevice(w http.ResponseWriter, r *http.Request) {
	var req RekeyRequest
	if r.ContentLength != 0 && !decode(w, r, &req, nil) {
		return
	}
	res, err := g.RekeyDevice(r.Context(), r.PathValue("user"), r.PathValue("name"), req.PublicKey)
	if err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	withQR(&res)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, res)
}

func (g *Gateway) apiSessions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, g.Sessions())
}

func (g *Gateway) apiPeers(w http.ResponseWriter, r *http.Request) {
	ps, err := g.Peers()
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, ps)
}

// Client calls the admin API over the unix socket.
type Client struct {
	Socket string
	hc     *http.Client
}

// ErrNotRunning means nothing answers on the socket.
var ErrNotRunning = errors.New("licgate is not running")

// NewClient returns a client for the daemon listening on socket.
func NewClient(socket string) *Client {
	return &Client{Socket: socket, hc: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}}
}

// DoRaw calls method path and returns the body as it is (e.g. PEM).
func (c *Client) DoRaw(ctx context.Context, method, path string, out *[]byte) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://licgate"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w (no daemon on %s: start it with `licgate serve`)", ErrNotRunning, c.Socket)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		var e APIError
		json.Unmarshal(b, &e)
		return fmt.Errorf("%s", cmp.Or(e.Error, resp.Status))
	}
	*out = b
	return err
}

// Do calls method path with in (JSON, may be nil) and decodes into out.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://licgate"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		var ne *net.OpError
		if errors.As(err, &ne) && ne.Op == "dial" {
			return fmt.Errorf("%w (no daemon on %s: start it with `licgate serve`)", ErrNotRunning, c.Socket)
		}
		return fmt.Errorf("api %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e APIError
		json.NewDecoder(resp.Body).Decode(&e)
		if e.Error == "" {
			e.Error = resp.Status
		}
		return fmt.Errorf("%s", e.Error)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// PolicyView is GET /api/v1/policy.
type PolicyView struct {
	File     string         `json:"file"`
	TimeZone string         `json:"timezone"`
	Rules    []acl.RuleInfo `json:"rules"`
	Warnings []string       `json:"warnings,omitempty"`
}

func (g *Gateway) apiPolicy(w http.ResponseWriter, r *http.Request) {
	eng := g.Engine()
	v := PolicyView{File: eng.Policy().File, TimeZone: eng.Location().String(), Rules: eng.Rules()}
	for _, wn := range eng.Warnings() {
		v.Warnings = append(v.Warnings, wn.String())
	}
	if v.Rules == nil {
		v.Rules = []acl.RuleInfo{}
	}
	writeJSON(w, http.StatusOK, v)
}

// ExplainRequest is POST /api/v1/policy/explain.
type ExplainRequest struct {
	User    string `json:"user"`
	Device  string `json:"device,omitempty"`
	Service string `json:"service"`
	At      string `json:"at,omitempty"` // default: now
}

// ExplainResult answers it.
type ExplainResult struct {
	Allow   bool   `json:"allow"`
	Rule    int    `json:"rule"`
	Reason  string `json:"reason"`
	Explain string `json:"explain"`
}

func (g *Gateway) apiExplain(w http.ResponseWriter, r *http.Request) {
	var req ExplainRequest
	if !decode(w, r, &req, map[string]func() bool{
		"user":    func() bool { return req.User != "" },
		"service": func() bool { return req.Service != "" },
	}) {
		return
	}
	res, err := ExplainWith(g.Engine(), req, g.now())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, APIError{Error: err.Error(), Field: "at"})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// ExplainWith explains req against eng (now if req.At is empty).
func ExplainWith(eng *acl.Engine, req ExplainRequest, now time.Time) (ExplainResult, error) {
	at := now
	if req.At != "" {
		var err error
		if at, err = eng.ParseTime(req.At); err != nil {
			return ExplainResult{}, err
		}
	}
	ar := acl.Request{User: req.User, Device: req.Device, Service: req.Service, Time: at}
	d := eng.Decide(ar)
	return ExplainResult{Allow: d.Allow, Rule: d.Rule, Reason: d.Reason, Explain: eng.Explain(ar)}, nil
}

func (g *Gateway) apiReload(w http.ResponseWriter, r *http.Request) {
	n, err := g.Reload(r.Context())
	if err != nil {
		writeErr(w, http.StatusUnprocessableEntity, err)
		return
	}
	writeJSON(w, http.StatusOK, CutResult{SessionsCut: n})
}

// ParseReportTime reads --from/--to: a date (midnight, local), a date and
// time, RFC 3339, or a duration back from now ("24h", "7d").
func ParseReportTime(s string, now time.Time, loc *time.Location) (time.Time, error) {
	if d, err := config.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (2026-11-01, 2026-11-01T08:00, RFC 3339, or a span back from now like 24h or 30d)", s)
}

func (g *Gateway) apiReport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	now := time.Now()
	loc := g.Engine().Location()
	from, to := now.Add(-7*24*time.Hour), now
	var err error
	if v := q.Get("from"); v != "" {
		if from, err = ParseReportTime(v, now, loc); err != nil {
			writeJSON(w, http.StatusBadRequest, APIError{Error: err.Error(), Field: "from"})
			return
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = ParseReportTime(v, now, loc); err != nil {
			writeJSON(w, http.StatusBadRequest, APIError{Error: err.Error(), Field: "to"})
			return
		}
	}
	rep, err := g.Report(r.Context(), from, to, q.Get("by"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, APIError{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (g *Gateway) apiDenials(w http.ResponseWriter, r *http.Request) {
	since := time.Hour
	if v := r.URL.Query().Get("since"); v != "" {
		d, err := config.ParseDuration(v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, APIError{Error: err.Error(), Field: "since"})
			return
		}
		since = d
	}
	g.audit.SyncTimeout(time.Second)
	ds, err := g.st.AuditDenials(r.Context(), time.Now().Add(-since), time.Now().Add(time.Second), 1000)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	if ds == nil {
		ds = []store.AuditDenialRow{}
	}
	writeJSON(w, http.StatusOK, ds)
}

// DDNSView is GET /api/v1/ddns.
type DDNSView struct {
	Enabled   bool          `json:"enabled"`
	Host      string        `json:"host,omitempty"`
	Providers []ddns.Status `json:"providers"`
}

func (g *Gateway) apiDDNS(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, DDNSView{Enabled: g.ddnsManager() != nil, Host: g.ddnsManager().HostOrEmpty(), Providers: orEmpty(g.DDNSStatus())})
}

func (g *Gateway) apiDDNSUpdate(w http.ResponseWriter, r *http.Request) {
	m := g.ddnsManager()
	if m == nil {
		writeErr(w, http.StatusConflict, errors.New("ddns is not configured (ddns.host in licgate.yaml)"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	writeJSON(w, http.StatusOK, DDNSView{Enabled: true, Host: m.Host, Providers: orEmpty(g.DDNSCheck(ctx))})
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// EnrollRequest is POST /api/v1/enrollments.
type EnrollRequest struct {
	User   string `json:"user"`
	Device string `json:"device"`
	TTL    string `json:"ttl,omitempty"` // default public.link_ttl (24h)
}

// EnrollLink answers it.
type EnrollLink struct {
	URL     string    `json:"url"`
	Expires time.Time `json:"expires"`
}

func (g *Gateway) apiEnroll(w http.ResponseWriter, r *http.Request) {
	var req EnrollRequest
	if !decode(w, r, &req, map[string]func() bool{
		"user":   func() bool { return req.User != "" },
		"device": func() bool { return req.Device != "" },
	}) {
		return
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 || d > 30*24*time.Hour {
			writeJSON(w, http.StatusBadRequest, APIError{Error: fmt.Sprintf("ttl %q: a duration up to 720h", req.TTL), Field: "ttl"})
			return
		}
		ttl = d
	}
	u, exp, err := g.CreateEnrollLink(r.Context(), req.User, req.Device, ttl)
	if err != nil {
		code := statusOf(err)
		if code == http.StatusInternalServerError && strings.Contains(err.Error(), "public listener") {
			code = http.StatusConflict
		}
		writeErr(w, code, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, EnrollLink{URL: u, Expires: exp})
}

func (g *Gateway) apiCA(w http.ResponseWriter, r *http.Request) {
	pemData, err := g.CARoot()
	if err != nil {
		writeErr(w, http.StatusConflict, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(pemData)
}

// ServiceView is one service on the dashboard.
type ServiceView struct {
	Name      string   `json:"name"`
	Port      int      `json:"port"`
	Protocols []string `json:"protocols"`
	Upstream  string   `json:"upstream"`
	Sessions  int      `json:"sessions"` // TCP sessions: the seats held through licgate
	Pool      int      `json:"pool"`     // services.X.max_sessions; 0: no cap
}

func (g *Gateway) apiServices(w http.ResponseWriter, r *http.Request) {
	held := map[string]int{}
	for _, s := range g.Sessions() {
		if s.Proto == "tcp" {
			held[s.Service]++
		}
	}
	eng := g.Engine()
	out := []ServiceView{}
	for _, s := range g.cfg.Services {
		out = append(out, ServiceView{Name: s.Name, Port: s.Port, Protocols: s.Protocols, Upstream: s.Upstream, Sessions: held[s.Name], Pool: eng.ServicePool(s.Name)})
	}
	writeJSON(w, http.StatusOK, out)
}

func (g *Gateway) apiCerts(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, g.certs.Views(g.cfg.Tunnel.Address))
}

// withQR adds the profile's QR code (a PNG data URL) for the console.
func withQR(res *DeviceResult) {
	if res.Profile == nil {
		return
	}
	if png, err := res.Profile.QRPNG(384); err == nil {
		res.QR = "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
	}
}

// ExpiryRequest is POST .../expiry: a date (access through that day, office
// time), a date and time, RFC 3339, or "never".
type ExpiryRequest struct {
	Expires string `json:"expires"`
}

// ParseExpiry reads an expiry as ExpiryRequest describes it.
func ParseExpiry(s string, loc *time.Location) (*time.Time, error) {
	if s == "never" || s == "" {
		return nil, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		end := t.AddDate(0, 0, 1) // through the end of that day
		return &end, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return &t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04", s, loc); err == nil {
		return &t, nil
	}
	return nil, fmt.Errorf("expires %q: a date (2026-12-31), a date and time (2026-12-31T18:00), RFC 3339, or never", s)
}

func (g *Gateway) apiExpiry(device bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req ExpiryRequest
		if !decode(w, r, &req, map[string]func() bool{"expires": func() bool { return req.Expires != "" }}) {
			return
		}
		exp, err := ParseExpiry(req.Expires, g.Engine().Location())
		if err != nil {
			writeJSON(w, http.StatusBadRequest, APIError{Error: err.Error(), Field: "expires"})
			return
		}
		if device {
			err = g.SetDeviceExpiry(r.Context(), r.PathValue("user"), r.PathValue("name"), exp)
		} else {
			err = g.SetUserExpiry(r.Context(), r.PathValue("name"), exp)
		}
		if err != nil {
			writeErr(w, statusOf(err), err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"expires": exp})
	}
}

func (g *Gateway) apiCutSession(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, APIError{Error: "session id must be a number", Field: "id"})
		return
	}
	n := g.CutSession(r.Context(), id)
	if n == 0 {
		writeErr(w, http.StatusNotFound, fmt.Errorf("no live session %d", id))
		return
	}
	writeJSON(w, http.StatusOK, CutResult{SessionsCut: n})
}

// GroupView is a policy group with its members (nested groups resolved).
type GroupView struct {
	Name        string   `json:"name"`
	Members     []string `json:"members"`
	MaxSessions int      `json:"max_sessions,omitempty"`
}

func (g *Gateway) apiGroups(w http.ResponseWriter, r *http.Request) {
	eng := g.Engine()
	pol := eng.Policy()
	out := []GroupView{}
	for _, name := range pol.GroupOrder {
		out = append(out, GroupView{Name: name, Members: eng.MembersOf(name), MaxSessions: pol.Groups[name].MaxSessions})
	}
	writeJSON(w, http.StatusOK, out)
}
