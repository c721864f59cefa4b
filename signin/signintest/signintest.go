// Package signintest starts a real OpenID provider and a real browser for
// tests of package signin and of the pages built on it.
//
// The provider is node-oidc-provider (an OpenID-certified implementation)
// with its development login form: any password is accepted for the users
// given, whose claims (email, groups...) are exactly as configured. It is
// installed by .ci/setup.d/50-oidc.sh into /opt/licgate-test/oidc-provider
// (or $LICGATE_OIDC_PROVIDER); the browser is Debian's Chromium. Without
// them a test is skipped, or fails under CI (testnet.Missing).
//
// Typical usage:
//
//	rp := httptest.NewServer(mux)
//	op := signintest.StartOP(t, signintest.OPConfig{
//		RedirectURIs: []string{rp.URL + "/callback"},
//		Users: []signintest.User{{Login: "alice", Email: "alice@example.com", Groups: []string{"eng"}}},
//	})
//	ctx := signintest.Browser(t)
//	chromedp.Run(ctx, chromedp.Navigate(rp.URL+"/begin"), signintest.Login("alice"), ...)
package signintest

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/licgate/licgate/internal/testnet"
)

//go:embed op.mjs
var opScript []byte

// DefaultProviderDir is where .ci/setup.d/50-oidc.sh installs the provider.
const DefaultProviderDir = "/opt/licgate-test/oidc-provider"

// User is an account at the test provider. Login is what the login form
// takes and becomes the subject (sub).
type User struct {
	Login         string
	Email         string
	EmailVerified *bool // nil: true
	// NoEmailVerified leaves email_verified out of the claims altogether
	// (EmailVerified is then ignored).
	NoEmailVerified   bool
	Name              string
	PreferredUsername string
	Groups            []string
	// GroupsOverage makes the provider answer as Entra ID does for a user
	// in more than 200 groups: no groups claim, but _claim_names
	// {"groups": "src1"} and _claim_sources pointing at Microsoft Graph
	// (node-oidc-provider's distributed claims, sent when the groups scope
	// is asked for). Groups is then ignored.
	GroupsOverage bool
}

// OPConfig configures StartOP.
type OPConfig struct {
	// ClientID and ClientSecret of the one registered client. If empty,
	// "licgate" and "licgate-test-secret".
	ClientID, ClientSecret string
	// RedirectURIs registered for the client. Required.
	RedirectURIs []string
	Users        []User
	// RequireAuthTime registers the client with require_auth_time, so
	// every ID token carries auth_time, also without max_age (OIDC
	// Dynamic Client Registration §2); otherwise node-oidc-provider sends
	// it only when max_age (or the claim) is asked for.
	RequireAuthTime bool
	// Host is the IPv4 address the provider listens on and names in its
	// issuer (http://HOST:port). If empty, 127.0.0.1. Another address
	// serves browsers and relying parties in other network namespaces
	// (start the provider inside the namespace that holds the address).
	Host string
}

// OP is a running provider.
type OP struct {
	Issuer       string
	ClientID     string
	ClientSecret string

	start  func(port string) *exec.Cmd
	mu     sync.Mutex
	cmd    *exec.Cmd // nil when stopped
	exited chan struct{}
}

func providerModule(tb testing.TB) string {
	dir := os.Getenv("LICGATE_OIDC_PROVIDER")
	if dir == "" {
		dir = DefaultProviderDir
	}
	mod := filepath.Join(dir, "node_modules", "oidc-provider")
	if _, err := os.Stat(filepath.Join(mod, "package.json")); err != nil {
		testnet.Missing(tb, "oidc-provider is not installed in %s (CI installs it: .ci/setup.d/50-oidc.sh)", dir)
	}
	return mod
}

// StartOP starts the provider on a loopback port and stops it when the
// test ends. Its log goes to tb.Log.
func StartOP(tb testing.TB, cfg OPConfig) *OP {
	tb.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testnet.Missing(tb, "node is not installed (CI installs nodejs: .ci/apt.d/oidc.txt)")
	}
	mod := providerModule(tb)
	if cfg.ClientID == "" {
		cfg.ClientID = "licgate"
	}
	if cfg.ClientSecret == "" {
		cfg.ClientSecret = "licgate-test-secret"
	}
	users := map[string]map[string]any{}
	for _, u := range cfg.Users {
		c := map[string]any{}
		if u.Email != "" {
			c["email"] = u.Email
			if !u.NoEmailVerified {
				c["email_verified"] = u.EmailVerified == nil || *u.EmailVerified
			}
		}
		if u.Name != "" {
			c["name"] = u.Name
		}
		if u.PreferredUsername != "" {
			c["preferred_username"] = u.PreferredUsername
		}
		switch {
		case u.GroupsOverage:
			c["_claim_names"] = map[string]any{"groups": "src1"}
			c["_claim_sources"] = map[string]any{"src1": map[string]any{
				"endpoint": "https://graph.microsoft.com/v1.0/users/" + u.Login + "/getMemberObjects"}}
		case u.Groups != nil:
			c["groups"] = u.Groups
		}
		users[u.Login] = c
	}
	conf, _ := json.Marshal(map[string]any{
		"clientId": cfg.ClientID, "clientSecret": cfg.ClientSecret,
		"redirectUris": cfg.RedirectURIs, "users": users, "requireAuthTime": cfg.RequireAuthTime,
	})
	script := filepath.Join(tb.TempDir(), "op.mjs")
	if err := os.WriteFile(script, opScript, 0o644); err != nil {
		tb.Fatal(err)
	}
	op := &OP{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret}
	op.start = func(port string) *exec.Cmd {
		cmd := exec.Command(node, script)
		cmd.Env = append(os.Environ(), "OIDC_PROVIDER_MODULE="+mod, "OP_CONFIG="+string(conf), "OP_PORT="+port, "OP_HOST="+cfg.Host)
		return cmd
	}
	op.run(tb, "0")
	tb.Cleanup(op.Stop)
	return op
}

// Restart stops the provider and starts it again on the same port, so the
// issuer stays the same; its signing keys and sessions are new.
func (o *OP) Restart(tb testing.TB) {
	tb.Helper()
	o.Stop()
	u, err := url.Parse(o.Issuer)
	if err != nil {
		tb.Fatal(err)
	}
	o.run(tb, u.Port())
}

func (o *OP) run(tb testing.TB, port string) {
	tb.Helper()
	cmd := o.start(port)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = logWriter{tb}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("signintest: start oidc-provider: %v", err)
	}
	exited := make(chan struct{})
	issuer := make(chan string, 1)
	go readOP(tb, bufio.NewScanner(stdout), issuer)
	go func() { cmd.Wait(); close(exited) }()
	o.mu.Lock()
	o.cmd, o.exited = cmd, exited
	o.mu.Unlock()
	select {
	case o.Issuer = <-issuer:
	case <-exited:
		tb.Fatalf("signintest: oidc-provider exited before serving: %v", cmd.ProcessState)
	case <-time.After(time.Minute):
		tb.Fatal("signintest: oidc-provider did not start within a minute")
	}
}

func readOP(tb testing.TB, sc *bufio.Scanner, issuer chan<- string) {
	for sc.Scan() {
		line := sc.Text()
		if s, ok := strings.CutPrefix(line, "ISSUER "); ok {
			issuer <- s
			continue
		}
		tb.Log("oidc-provider:", line)
	}
}

// Stop ends the provider and waits for it; safe to call twice.
func (o *OP) Stop() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cmd == nil {
		return
	}
	o.cmd.Process.Kill()
	<-o.exited
	o.cmd = nil
}

type logWriter struct{ tb testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.tb.Log("oidc-provider:", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Chromium returns the path of Debian's Chromium, or ends the test
// (testnet.Missing).
func Chromium(tb testing.TB) string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	testnet.Missing(tb, "chromium is not installed (CI installs it: .ci/apt.d)")
	return ""
}

// Browser starts a headless Chromium with its own profile and returns its
// context, with a 3-minute deadline (slow under load); it closes when the test ends. Names other
// than loopback addresses do not resolve, so nothing leaves the machine.
func Browser(tb testing.TB) context.Context {
	tb.Helper()
	bin := Chromium(tb)
	dir, err := os.MkdirTemp("", "lgsignin")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		// Chromium's helpers may write to the profile for a moment after
		// the browser is gone: retry instead of t.TempDir's strict removal.
		for i := 0; i < 50 && os.RemoveAll(dir) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1000, 800),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	tb.Cleanup(func() { cancelT(); cancel(); cancelA() })
	return ctx
}

// Login fills the provider's login form as login (any password) and
// accepts the consent page.
func Login(login string) chromedp.Action {
	return chromedp.Tasks{
		chromedp.WaitVisible(`input[name=login]`),
		chromedp.SendKeys(`input[name=login]`, login),
		chromedp.SendKeys(`input[name=password]`, "any password"),
		chromedp.Submit(`input[name=login]`),
		chromedp.WaitVisible(`input[name=prompt][value=consent] ~ button, button[autofocus]`),
		chromedp.Click(`button[autofocus]`),
	}
}

// Reauthenticate fills the login form the provider shows again to a
// browser that holds a session (max_age, prompt=login) as login (any
// password); the consent given before stands, so the provider then
// sends the browser back without the consent page.
func Reauthenticate(login string) chromedp.Action {
	return chromedp.Tasks{
		chromedp.WaitVisible(`input[name=login]`),
		chromedp.SendKeys(`input[name=login]`, login),
		chromedp.SendKeys(`input[name=password]`, "any password"),
		chromedp.Submit(`input[name=login]`),
	}
}

// Cancel clicks the provider's "[ Cancel ]" link on the login page, which
// sends the browser back with error=access_denied.
func Cancel() chromedp.Action {
	return chromedp.Tasks{
		chromedp.WaitVisible(`input[name=login]`),
		chromedp.Click(`//a[contains(., "Cancel")]`, chromedp.BySearch),
	}
}
