package adminauth_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/adminapi/adminauth"
	"github.com/licgate/licgate/gateway/gatewaytest"
	"github.com/licgate/licgate/signin/signintest"
)

// TestGatewayLANAdminSignIn: a whole gateway with signin.admin in its
// licgate.yaml serves admin sign-in on its LAN listener (the wiring:
// config -> AdminSignin -> adminauth.LAN): the console without credentials
// goes to /signin/begin, which sends the browser to the provider with the
// callback on signin.admin.url; the key is made in the state directory
// (0600); the bearer token works as before.
func TestGatewayLANAdminSignIn(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	const adminURL = "https://lan.office.example.test:8443"
	op := signintest.StartOP(t, signintest.OPConfig{RedirectURIs: []string{adminURL + adminauth.PathCallback}})
	dir := t.TempDir()
	secret, tokenFile := filepath.Join(dir, "secret"), filepath.Join(dir, "token")
	os.WriteFile(secret, []byte(op.ClientSecret+"\n"), 0o600)
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
	h := gatewaytest.New(t, gatewaytest.TopLevel(fmt.Sprintf(`public:
  listen: 127.0.0.1:0
  name: office.example.test
  acme: {directory: "off"}
admin:
  lan_listen: 127.0.0.1:0
  token_file: %s
signin:
  issuer: %s
  client_id: %s
  client_secret_file: %s
  groups_claim: groups
  allowed_domains: [example.test]
  admin:
    admin_groups: [licgate-admins]
    url: %s
`, tokenFile, op.Issuer, op.ClientID, secret, adminURL)))
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	lan := "https://" + h.GW.LANAddr().String()
	get := func(path, tok string) *http.Response {
		req, _ := http.NewRequest("GET", lan+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if resp := get("/", ""); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != adminauth.PathBegin {
		t.Fatalf("console without credentials: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp := get(adminauth.PathBegin, "")
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), op.Issuer) {
		t.Fatalf("begin: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := loc.Query().Get("redirect_uri"); got != adminURL+adminauth.PathCallback {
		t.Errorf("redirect_uri %q, want %q", got, adminURL+adminauth.PathCallback)
	}
	if !strings.Contains(loc.Query().Get("scope"), "groups") {
		t.Errorf("scope %q has no groups", loc.Query().Get("scope"))
	}
	var flow *http.Cookie
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, "licgate_admin_signin_") {
			flow = c
		}
	}
	if flow == nil || flow.Path != adminauth.PathCallback || !flow.Secure || !flow.HttpOnly {
		t.Errorf("sign-in flow cookie: %+v", flow)
	}
	if fi, err := os.Stat(filepath.Join(h.Dir, adminauth.KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state_dir/%s: %v %v", adminauth.KeyFile, fi, err)
	}
	if resp := get("/api/v1/users", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("API without credentials: %d", resp.StatusCode)
	}
	if resp := get("/api/v1/users", token); resp.StatusCode != http.StatusOK {
		t.Errorf("API with the token: %d", resp.StatusCode)
	}
}
