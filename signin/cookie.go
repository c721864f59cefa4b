package signin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// flow is what one sign-in carries from BeginLogin to Callback, in a cookie
// the browser holds. It is signed, not encrypted: the browser's owner may
// read its own nonce and PKCE verifier; they are worthless to anyone who
// only sees the redirect.
type flow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Purpose  string `json:"p,omitempty"`
	ReturnTo string `json:"r,omitempty"`
	Bind     string `json:"b,omitempty"`
	Issued   int64  `json:"t"` // unix seconds
	// MaxAge is the max_age sent (seconds; 0: none): Callback then
	// requires an auth_time at most this old.
	MaxAge int64 `json:"m,omitempty"`
}

// stateIDLen is how much of the state names the cookie, so two sign-ins in
// two tabs do not overwrite each other.
const stateIDLen = 16

func randomString() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (p *Provider) flowCookieName(state string) string {
	if len(state) > stateIDLen {
		state = state[:stateIDLen]
	}
	return p.cfg.cookieName() + "_" + state
}

func (p *Provider) mac(name string, payload []byte) []byte {
	m := hmac.New(sha256.New, p.cfg.CookieKey)
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)
}

func (p *Provider) encodeFlow(name string, f flow) string {
	payload, _ := json.Marshal(f)
	return base64.RawURLEncoding.EncodeToString(payload) + "." +
		base64.RawURLEncoding.EncodeToString(p.mac(name, payload))
}

func (p *Provider) decodeFlow(name, value string) (flow, error) {
	var f flow
	enc, sig, ok := strings.Cut(value, ".")
	if !ok {
		return f, fmt.Errorf("%w: cookie %s is malformed", ErrStateMismatch, name)
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(enc)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, p.mac(name, payload)) {
		return f, fmt.Errorf("%w: cookie %s has a bad signature", ErrStateMismatch, name)
	}
	if err := json.Unmarshal(payload, &f); err != nil {
		return f, fmt.Errorf("%w: cookie %s: %v", ErrStateMismatch, name, err)
	}
	return f, nil
}
