package adminapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/licgate/licgate/bundle"
	"github.com/licgate/licgate/internal/confval"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/store"
)

// Handler is the versioned JSON admin API, /api/v1/...
func newMux(b Backend, o Options) *http.ServeMux {
	a := &api{b: b}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/health", a.apiHealth)
	mux.HandleFunc("GET /api/v1/users", a.apiUsers)
	mux.HandleFunc("POST /api/v1/users", a.apiAddUser)
	mux.HandleFunc("POST /api/v1/users/{name}/disable", a.apiDisableUser(true))
	mux.HandleFunc("POST /api/v1/users/{name}/enable", a.apiDisableUser(false))
	mux.HandleFunc("POST /api/v1/users/{name}/expiry", a.apiExpiry(false))
	mux.HandleFunc("POST /api/v1/devices/{user}/{name}/expiry", a.apiExpiry(true))
	mux.HandleFunc("GET /api/v1/devices", a.apiDevices)
	mux.HandleFunc("POST /api/v1/devices", a.apiAddDevice)
	mux.HandleFunc("POST /api/v1/devices/{user}/{name}/revoke", a.apiRevokeDevice)
	mux.HandleFunc("POST /api/v1/devices/{user}/{name}/rekey", a.apiRekeyDevice)
	mux.HandleFunc("GET /api/v1/sessions", a.apiSessions)
	mux.HandleFunc("POST /api/v1/sessions/{id}/cut", a.apiCutSession)
	mux.HandleFunc("GET /api/v1/groups", a.apiGroups)
	mux.HandleFunc("POST /api/v1/enrollments", a.apiEnroll)
	mux.HandleFunc("GET /api/v1/ca", a.apiCA)
	mux.HandleFunc("GET /api/v1/services", a.apiServices)
	mux.HandleFunc("GET /api/v1/certs", a.apiCerts)
	console := consoleHandler()
	for _, path := range []string{"GET /{$}", "GET /index.html", "GET /app.js", "GET /style.css"} {
		mux.Handle(path, console)
	}
	mux.HandleFunc("GET /api/v1/peers", a.apiPeers)
	mux.HandleFunc("GET /api/v1/policy", a.apiPolicy)
	mux.HandleFunc("POST /api/v1/policy/explain", a.apiExplain)
	mux.HandleFunc("POST /api/v1/policy/reload", a.apiReload)
	mux.HandleFunc("GET /api/v1/report", a.apiReport)
	mux.HandleFunc("GET /api/v1/audit/denials", a.apiDenials)
	mux.HandleFunc("GET /api/v1/ddns", a.apiDDNS)
	mux.HandleFunc("GET /api/v1/directory", a.apiDirectory)
	mux.HandleFunc("POST /api/v1/directory/sync", a.apiDirectorySync)
	mux.HandleFunc("POST /api/v1/directory/accept", a.apiDirectoryAccept)
	mux.HandleFunc("POST /api/v1/ddns/update", a.apiDDNSUpdate)
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics)
	}
	if o.Pprof {
		mountPprof(mux)
	}
	for _, m := range o.Mount {
		m(mux)
	}
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
	if !requireJSON(w, r) {
		return false
	}
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

func (a *api) apiHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.b.Health())
}

func (a *api) apiUsers(w http.ResponseWriter, r *http.Request) {
	us, err := a.b.Users(r.Context())
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

func (a *api) apiAddUser(w http.ResponseWriter, r *http.Request) {
	var req AddUserRequest
	if !decode(w, r, &req, map[string]func() bool{"name": func() bool { return req.Name != "" }}) {
		return
	}
	u, err := a.b.AddUser(r.Context(), req.Name, req.Email)
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

func (a *api) apiDisableUser(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n, err := a.b.SetUserDisabled(r.Context(), r.PathValue("name"), disabled)
		if err != nil {
			writeErr(w, statusOf(err), err)
			return
		}
		writeJSON(w, http.StatusOK, CutResult{SessionsCut: n})
	}
}

func (a *api) apiDevices(w http.ResponseWriter, r *http.Request) {
	ds, err := a.b.Devices(r.Context(), r.URL.Query().Get("all") == "1")
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

func (a *api) apiAddDevice(w http.ResponseWriter, r *http.Request) {
	var req AddDeviceRequest
	if !decode(w, r, &req, map[string]func() bool{
		"user": func() bool { return req.User != "" },
		"name": func() bool { return req.Name != "" },
	}) {
		return
	}
	res, err := a.b.AddDevice(r.Context(), req.User, req.Name, req.PublicKey)
	if err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	withQR(&res)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, res)
}

func (a *api) apiRevokeDevice(w http.ResponseWriter, r *http.Request) {
	n, err := a.b.RevokeDevice(r.Context(), r.PathValue("user"), r.PathValue("name"))
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

func (a *api) apiRekeyDevice(w http.ResponseWriter, r *http.Request) {
	var req RekeyRequest
	if r.ContentLength != 0 && !decode(w, r, &req, nil) {
		return
	}
	res, err := a.b.RekeyDevice(r.Context(), r.PathValue("user"), r.PathValue("name"), req.PublicKey)
	if err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	withQR(&res)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, res)
}

func (a *api) apiSessions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.b.Sessions())
}

func (a *api) apiPeers(w http.ResponseWriter, r *http.Request) {
	ps, err := a.b.Peers()
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, ps)
}

// PolicyView is GET /api/v1/policy.
type PolicyView struct {
	File     string         `json:"file"`
	TimeZone string         `json:"timezone"`
	Rules    []acl.RuleInfo `json:"rules"`
	Warnings []string       `json:"warnings,omitempty"`
}

func (a *api) apiPolicy(w http.ResponseWriter, r *http.Request) {
	eng := a.b.Engine()
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
	Kind    string `json:"kind"` // the denial class, or "rule"/"default" for an allow
	Explain string `json:"explain"`
}

func (a *api) apiExplain(w http.ResponseWriter, r *http.Request) {
	var req ExplainRequest
	if !decode(w, r, &req, map[string]func() bool{
		"user":    func() bool { return req.User != "" },
		"service": func() bool { return req.Service != "" },
	}) {
		return
	}
	res, err := a.b.Explain(r.Context(), req)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, APIError{Error: err.Error(), Field: "at"})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// ExplainWith explains req against eng alone (now if req.At is empty):
// no live counts, no user state; for a policy file not yet in force.
func ExplainWith(eng *acl.Engine, req ExplainRequest, now time.Time) (ExplainResult, error) {
	at := now
	if req.At != "" {
		var err error
		if at, err = eng.ParseTime(req.At); err != nil {
			return ExplainResult{}, err
		}
	}
	x := eng.Explain(acl.Request{User: req.User, Device: req.Device, Service: req.Service, Time: at})
	return ExplainResult{Allow: x.Allow, Rule: x.Rule, Reason: x.Reason, Kind: x.Kind.String(), Explain: x.Text}, nil
}

func (a *api) apiReload(w http.ResponseWriter, r *http.Request) {
	res, err := a.b.Reload(r.Context())
	if err != nil {
		writeErr(w, http.StatusUnprocessableEntity, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// ParseReportTime reads --from/--to: a date (midnight, local), a date and
// time, RFC 3339, or a duration back from now ("24h", "7d").
func ParseReportTime(s string, now time.Time, loc *time.Location) (time.Time, error) {
	if d, err := confval.ParseDuration(s); err == nil && d > 0 {
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

func (a *api) apiReport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	now := time.Now()
	loc := a.b.Engine().Location()
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
	rep, err := a.b.Report(r.Context(), from, to, q.Get("by"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, APIError{Error: err.Error()})
		return
	}
	if rep.Products != nil { // every configured service, its cap as the limit
		seats := map[string]int{}
		for _, s := range a.b.Services() {
			seats[s.Name] = s.Pool
		}
		rep.Products.ApplySeats(seats)
	}
	writeJSON(w, http.StatusOK, rep)
}

func (a *api) apiDenials(w http.ResponseWriter, r *http.Request) {
	since := time.Hour
	if v := r.URL.Query().Get("since"); v != "" {
		d, err := confval.ParseDuration(v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, APIError{Error: err.Error(), Field: "since"})
			return
		}
		since = d
	}
	ds, err := a.b.Denials(r.Context(), time.Now().Add(-since), time.Now().Add(time.Second), 1000)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	if ds == nil {
		ds = []store.AuditDenialRow{}
	}
	writeJSON(w, http.StatusOK, ds)
}

func (a *api) apiDDNS(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.b.DDNS())
}

func (a *api) apiDirectory(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, NewDirectoryView(a.b.DirectoryStatus()))
}

func (a *api) apiDirectorySync(w http.ResponseWriter, r *http.Request) {
	if err := a.b.DirectorySync(r.Context()); err != nil {
		writeErr(w, http.StatusConflict, err)
		return
	}
	writeJSON(w, http.StatusAccepted, NewDirectoryView(a.b.DirectoryStatus()))
}

// apiDirectoryAccept answers the accepted snapshot's description.
func (a *api) apiDirectoryAccept(w http.ResponseWriter, r *http.Request) {
	h, err := a.b.DirectoryAccept(r.Context())
	if err != nil {
		writeErr(w, http.StatusConflict, err)
		return
	}
	writeJSON(w, http.StatusOK, NewHeldView(h))
}

func (a *api) apiDDNSUpdate(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	v, err := a.b.DDNSCheck(ctx)
	if err != nil {
		writeErr(w, http.StatusConflict, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
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

func (a *api) apiEnroll(w http.ResponseWriter, r *http.Request) {
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
	u, exp, err := a.b.CreateEnrollLink(r.Context(), req.User, req.Device, ttl)
	if err != nil {
		code := statusOf(err)
		if errors.Is(err, ErrNoPublicListener) {
			code = http.StatusConflict
		}
		writeErr(w, code, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, EnrollLink{URL: u, Expires: exp})
}

func (a *api) apiCA(w http.ResponseWriter, r *http.Request) {
	pemData, err := a.b.CARoot()
	if err != nil {
		writeErr(w, http.StatusConflict, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(pemData)
}

func (a *api) apiServices(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.b.Services())
}

func (a *api) apiCerts(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.b.Certs())
}

// withQR adds the profile's QR code (a PNG data URL) for the console.
func withQR(res *DeviceResult) {
	if res.Profile == nil {
		return
	}
	if png, err := bundle.QRPNG(*res.Profile, 384); err == nil {
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

func (a *api) apiExpiry(device bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req ExpiryRequest
		if !decode(w, r, &req, map[string]func() bool{"expires": func() bool { return req.Expires != "" }}) {
			return
		}
		exp, err := ParseExpiry(req.Expires, a.b.Engine().Location())
		if err != nil {
			writeJSON(w, http.StatusBadRequest, APIError{Error: err.Error(), Field: "expires"})
			return
		}
		if device {
			err = a.b.SetDeviceExpiry(r.Context(), r.PathValue("user"), r.PathValue("name"), exp)
		} else {
			err = a.b.SetUserExpiry(r.Context(), r.PathValue("name"), exp)
		}
		if err != nil {
			writeErr(w, statusOf(err), err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"expires": exp})
	}
}

func (a *api) apiCutSession(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, APIError{Error: "session id must be a number", Field: "id"})
		return
	}
	n := a.b.CutSession(r.Context(), id)
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

func (a *api) apiGroups(w http.ResponseWriter, r *http.Request) {
	eng := a.b.Engine()
	pol := eng.Policy()
	out := []GroupView{}
	for _, name := range pol.GroupOrder {
		out = append(out, GroupView{Name: name, Members: eng.MembersOf(name), MaxSessions: pol.Groups[name].MaxSessions})
	}
	writeJSON(w, http.StatusOK, out)
}

type api struct{ b Backend }
