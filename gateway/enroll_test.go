package gateway_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/licgate/licgate/adminapi"

	"github.com/licgate/licgate/gateway/gatewaytest"
	"github.com/licgate/licgate/tunnel"
)

// TestEnrolmentLink: a single-use link on the public HTTPS listener (a
// certificate from licgate's internal CA through certmagic) enrols a
// device whose profile works; a second visit finds the link dead; the
// public listener serves nothing else.
func TestEnrolmentLink(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t, gatewaytest.TopLevel("public:\n  listen: 127.0.0.1:0\n  name: office.example.test\n  acme: {directory: \"off\"}\n"))
	ctx := context.Background()
	h.GW.AddUser(ctx, "alice", "")
	api := adminapi.NewClient(h.Config.Socket)
	var link adminapi.EnrollLink
	if err := api.Do(ctx, "POST", "/api/v1/enrollments", adminapi.EnrollRequest{User: "alice", Device: "laptop", TTL: "1h"}, &link); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link.URL, "https://office.example.test:") || time.Until(link.Expires) > time.Hour {
		t.Fatalf("link %+v", link)
	}
	root, err := h.GW.CARoot()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(root) {
		t.Fatal("bad CA PEM")
	}
	addr := h.GW.PublicAddr().String()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "office.example.test"},
		DialContext: func(ctx context.Context, network, _ string) (netConn, error) {
			var d netDialer
			return d.DialContext(ctx, network, addr) // office.example.test -> the test listener
		},
	}}
	get := func(u string) (int, string) {
		resp, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(u string, form url.Values) (int, string) {
		resp, err := client.PostForm(u, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Looking does not use the link up.
	for i := 0; i < 2; i++ {
		if code, page := get(link.URL); code != 200 || !strings.Contains(page, "Create the keys") || !strings.Contains(page, "your own WireGuard key") {
			t.Fatalf("choice page %d: %s", code, page)
		}
	}
	if code, page := post(link.URL, url.Values{"action": {"own"}, "public_key": {"not a key"}}); code != 400 || !strings.Contains(page, "still valid") {
		t.Fatalf("bad own key: %d %s", code, page)
	}
	code, page := post(link.URL, url.Values{"action": {"generate"}})
	if code != 200 || !strings.Contains(page, "data:image/png;base64,") || !strings.Contains(page, "laptop-windows.ps1") {
		t.Fatalf("enrolment page %d:\n%s", code, page)
	}
	m := regexp.MustCompile(`(?s)<pre>(.*?)</pre>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no profile on the page")
	}
	p, err := tunnel.ParseProfile(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	lc := h.StartClient("alice", "laptop", p).TakeSeat(t)
	lc.Close()
	if code, page := get(link.URL); code != http.StatusGone || !strings.Contains(page, "already been used") {
		t.Fatalf("second visit %d: %s", code, page)
	}
	if code, _ := post(link.URL, url.Values{"action": {"generate"}}); code != http.StatusGone {
		t.Fatalf("second use %d", code)
	}
	// The own-key path: the device gets the user's public key; licgate never sees the private key.
	var link2 adminapi.EnrollLink
	if err := api.Do(ctx, "POST", "/api/v1/enrollments", adminapi.EnrollRequest{User: "alice", Device: "phone"}, &link2); err != nil {
		t.Fatal(err)
	}
	own, _ := tunnel.GenerateKey()
	code2, page2 := post(link2.URL, url.Values{"action": {"own"}, "public_key": {own.PublicKey().String()}})
	if code2 != 200 || !strings.Contains(page2, "# PrivateKey = (your own private key)") || strings.Contains(page2, own.String()) {
		t.Fatalf("own key page %d: %s", code2, page2)
	}
	m2 := regexp.MustCompile(`(?s)<pre>(.*?)</pre>`).FindStringSubmatch(page2)
	text := strings.Replace(html.UnescapeString(m2[1]), "# PrivateKey = (your own private key)", "PrivateKey = "+own.String(), 1)
	p2, err := tunnel.ParseProfile(text)
	if err != nil {
		t.Fatal(err)
	}
	lc2 := h.StartClient("alice", "phone", p2).TakeSeat(t)
	lc2.Close()
	if code, _ := get("https://office.example.test/api/v1/users"); code != http.StatusNotFound {
		t.Fatalf("public listener answered the admin API: %d", code)
	}
	if code, _ := get("https://office.example.test/enroll/made-up-token"); code != http.StatusNotFound {
		t.Fatalf("unknown token: %d", code)
	}
	// A second link for an existing device is refused; the private key was never stored.
	if err := api.Do(ctx, "POST", "/api/v1/enrollments", adminapi.EnrollRequest{User: "alice", Device: "laptop"}, &link); err == nil {
		t.Fatal("link for an existing device")
	}
	h.GW.SyncAudit()
	evs, _ := h.GW.Store().AuditEvents(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 50)
	var enrolled bool
	for _, e := range evs {
		if e.Action == "device.enrolled" && strings.Contains(e.Detail, "alice/laptop by 127.0.0.1") {
			enrolled = true
		}
	}
	if !enrolled {
		t.Fatalf("download not logged: %+v", evs)
	}
	// Rate limit: a burst of page views from one address is cut off.
	var limited bool
	for i := 0; i < 10; i++ {
		if code, _ := get("https://office.example.test/enroll/x" + strings.Repeat("y", i)); code == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("no rate limit on enrolment pages")
	}
}
