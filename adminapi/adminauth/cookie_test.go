package adminauth

import (
	"crypto/tls"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/signin"
)

// TestSessionCookie: Secure on TLS, and a cookie whose payload was edited
// (a read-only admin making themselves admin, or extending the expiry)
// or signed with another key is no session.
func TestSessionCookie(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	newAuth := func(key string) *auth {
		return &auth{key: []byte(key), now: func() time.Time { return now }, cfg: signin.AdminConfig{Session: time.Hour}}
	}
	a := newAuth("k1")
	s := session{ID: "id1", Address: "harry@example.com", Role: RoleReadonly, Expires: now.Add(time.Hour).Unix()}
	plain := httptest.NewRequest("GET", "http://lan/", nil)
	tlsReq := httptest.NewRequest("GET", "https://lan/", nil)
	tlsReq.TLS = &tls.ConnectionState{}
	if c := a.cookie(plain, s); c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.MaxAge != 3600 {
		t.Errorf("plain HTTP cookie: %+v", c)
	}
	if c := a.cookie(tlsReq, s); !c.Secure {
		t.Errorf("TLS cookie not Secure: %+v", c)
	}
	with := func(value string) *http.Request {
		r := httptest.NewRequest("GET", "https://lan/api/v1/sessions", nil)
		r.AddCookie(&http.Cookie{Name: cookieName, Value: value})
		return r
	}
	good := a.encode(s)
	if got, err := a.session(with(good)); err != nil || got != s {
		t.Fatalf("genuine cookie: %+v %v", got, err)
	}
	payload, sig, _ := strings.Cut(good, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(payload)
	for name, edited := range map[string]string{
		"role":   strings.Replace(string(raw), `"readonly"`, `"admin"`, 1),
		"expiry": strings.Replace(string(raw), `"e":1800003600`, `"e":1900003600`, 1),
	} {
		if edited == string(raw) {
			t.Fatalf("%s: edit did not apply to %s", name, raw)
		}
		v := base64.RawURLEncoding.EncodeToString([]byte(edited)) + "." + sig
		if _, err := a.session(with(v)); err == nil {
			t.Errorf("edited %s accepted", name)
		}
	}
	if _, err := newAuth("k2").session(with(good)); err == nil {
		t.Error("cookie of another key accepted")
	}
	a.now = func() time.Time { return now.Add(time.Hour) }
	if _, err := a.session(with(good)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired session: %v", err)
	}
	if a.csrf("id1") == a.csrf("id2") || a.csrf("id1") == newAuth("k2").csrf("id1") {
		t.Error("CSRF tokens must differ per session and key")
	}
}
