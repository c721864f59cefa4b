package adminapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/licgate/licgate/store"
)

// fakeBackend answers the calls these tests make; any other call panics
// (the embedded nil interface), so a handler that calls more than it
// should is caught.
type fakeBackend struct {
	Backend
	added []string
}

func (f *fakeBackend) AddUser(_ context.Context, name, email string) (store.User, error) {
	if name == "taken" {
		return store.User{}, store.ErrExists
	}
	f.added = append(f.added, name)
	return store.User{Name: name, Email: email}, nil
}

func (f *fakeBackend) Users(context.Context) ([]store.User, error) { return nil, nil }

func (f *fakeBackend) RevokeDevice(_ context.Context, user, name string) (int, error) {
	return 0, errors.Join(store.ErrNotFound)
}

func TestHandlersAgainstAFakeBackend(t *testing.T) {
	b := &fakeBackend{}
	h := Handler(b, Options{})
	do := func(method, path, ctype, body string, hdr ...string) (int, string) {
		req := httptest.NewRequest(method, "https://10.44.0.1"+path, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code, w.Body.String()
	}
	for _, tc := range []struct {
		name, method, path, ctype, body string
		hdr                             []string
		code                            int
		want                            string
	}{
		{"add", "POST", "/api/v1/users", "application/json", `{"name":"alice"}`, nil, 201, `"alice"`},
		{"exists", "POST", "/api/v1/users", "application/json", `{"name":"taken"}`, nil, 409, "exists"},
		{"text/plain form", "POST", "/api/v1/users", "text/plain", `{"name":"eve"}`, nil, 415, "application/json"},
		{"no type", "POST", "/api/v1/users", "", `{"name":"eve"}`, nil, 415, "application/json"},
		{"cross-site", "POST", "/api/v1/users", "application/json", `{"name":"eve"}`, []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross-origin"},
		{"foreign origin", "POST", "/api/v1/devices/a/b/revoke", "", ``, []string{"Origin", "https://evil.example"}, 403, "cross-origin"},
		{"same origin", "POST", "/api/v1/devices/a/b/revoke", "", ``, []string{"Sec-Fetch-Site", "same-origin"}, 404, "not found"},
		{"unknown field", "POST", "/api/v1/users", "application/json", `{"name":"x","colour":1}`, nil, 400, "unknown field"},
		{"missing field", "POST", "/api/v1/users", "application/json", `{}`, nil, 400, `"field": "name"`},
		{"trailing", "POST", "/api/v1/users", "application/json", `{"name":"x"} {}`, nil, 400, "trailing"},
		{"no pprof", "GET", "/debug/pprof/", "", ``, nil, 404, "no such endpoint"},
		{"list", "GET", "/api/v1/users", "", ``, nil, 200, "[]"},
	} {
		code, body := do(tc.method, tc.path, tc.ctype, tc.body, tc.hdr...)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s; want %d containing %q", tc.name, code, body, tc.code, tc.want)
		}
	}
	if strings.Join(b.added, ",") != "alice" {
		t.Fatalf("users added: %v (refused requests must change nothing)", b.added)
	}
	// The socket's handler has profiles (404 naming the tag in a
	// licgate_omit_pprof build: omit_test.go).
	hs := Handler(b, Options{Pprof: true})
	w := httptest.NewRecorder()
	hs.ServeHTTP(w, httptest.NewRequest("GET", "http://x/debug/pprof/", nil))
	if want := map[bool]int{true: 200, false: 404}[PprofBuilt]; w.Code != want {
		t.Fatalf("pprof on the socket handler: %d, want %d", w.Code, want)
	}
}

var _ http.Handler = Handler(&fakeBackend{}, Options{})
