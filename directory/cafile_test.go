package directory_test

import (
	"context"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licgate/licgate/directory"
	"github.com/licgate/licgate/internal/testnet"
)

// TestCAFileUnusableCertificate: a ca_file whose certificate crypto/x509
// cannot parse (Samba's self-signed CA often has a negative serial
// number) says so, instead of "holds no PEM certificate".
func TestCAFileUnusableCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	bad := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")})
	if err := os.WriteFile(ca, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := directory.Config{URL: "ldaps://127.0.0.1:1", CAFile: ca, BaseDN: "DC=corp,DC=example", Preset: directory.PresetActiveDirectory}
	_, err := directory.New(cfg, testLogger(t)).Sync(context.Background())
	if !errors.Is(err, directory.ErrTLS) || !strings.Contains(err.Error(), "certificate 1: x509: malformed certificate") {
		t.Errorf("unparsable CA: %v", err)
	}
	// One good certificate next to a bad one is enough, as in a bundle.
	testnet.WriteCerts(t, dir, "good CA")
	good, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, append(bad, good...), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = directory.New(cfg, testLogger(t)).Sync(context.Background())
	if !errors.Is(err, directory.ErrUnreachable) {
		t.Errorf("bundle with one good CA: %v, want ErrUnreachable (port 1)", err)
	}
}
