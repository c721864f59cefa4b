package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licgate/licgate/config"
)

// TestSetupSMTP: --smtp-* flags write the smtp: block (validated like the
// rest: an insecure remote server is refused and nothing is written), and
// the list of what is left stops asking for it.
func TestSetupSMTP(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "licgate.yaml")
	base := []string{"setup", "-c", cfg, "--state-dir", dir, "--upstream", "127.0.0.1:1", "--public-name", "office.example.test",
		"--portmap", "off", "--public-listen", ":8443", "--yes", "--no-service"}
	out, code := cli(t, append(base, "--smtp-host", "mail.example.test", "--smtp-security", "none", "--smtp-from", "it@example.test")...)
	if code == 0 || !strings.Contains(out, "smtp.security") {
		t.Fatalf("security none to a remote server: %d %s", code, out)
	}
	if _, err := os.Stat(cfg); !os.IsNotExist(err) {
		t.Fatal("a refused setup wrote the config")
	}
	out, code = cli(t, base...)
	if code != 0 || !strings.Contains(out, "setup --smtp-host HOST") || !strings.Contains(out, "forward TCP 8443") {
		t.Fatalf("setup without smtp: %d %s", code, out)
	}
	if out, code := cli(t, "setup", "-c", cfg, "--smtp-host", "smtp.example.test", "--smtp-from", "it@example.test", "--smtp-user", "it", "--yes", "--no-service"); code == 0 || !strings.Contains(out, "smtp.password_file") {
		t.Fatalf("--smtp-user without a password file: %d %s", code, out)
	}
	out, code = cli(t, "setup", "-c", cfg, "--smtp-host", "127.0.0.1", "--smtp-port", "2525", "--smtp-security", "none",
		"--smtp-from", "Office IT <it@example.test>", "--yes", "--no-service")
	if code != 0 || strings.Contains(out, "--smtp-host") {
		t.Fatalf("setup --smtp-host: %d %s", code, out)
	}
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s := c.SMTP; s.Host != "127.0.0.1" || s.Port != 2525 || s.Security != "none" || s.From != "Office IT <it@example.test>" || s.Organization != "Office IT" {
		t.Fatalf("smtp: %+v", s)
	}
	if c.Tunnel.Endpoint != "office.example.test" || c.Public.Listen != ":8443" {
		t.Fatal("setup --smtp-* changed other settings")
	}
	out, code = cli(t, "setup", "-c", cfg, "--smtp-user", "it", "--smtp-password-file", "smtp.pw", "--yes", "--no-service")
	if c, err = config.Load(cfg); code != 0 || err != nil || c.SMTP.User != "it" || c.SMTP.PasswordFile != filepath.Join(dir, "smtp.pw") || c.SMTP.Host != "127.0.0.1" {
		t.Fatalf("setup --smtp-user: %d %s %v %+v", code, out, err, c.SMTP)
	}
	if c.Tunnel.Endpoint != "office.example.test" {
		t.Fatal("setup --smtp-* changed other settings")
	}
	text, _ := os.ReadFile(cfg)
	if !bytes.Contains(text, []byte("# licgate configuration, written by")) {
		t.Fatalf("comments lost:\n%s", text)
	}
}
