//go:build !licgate_omit_postgres && !windows

package postgres_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licgate/licgate/internal/secretfile"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/postgres"
)

// TestDSNFileMustBePrivate (issue 23, finding 8): a DSN file holding a
// password is refused at mode 0644, as the cluster's KEK file is (one
// rule, secretfile.ReadPrivate); at 0600 it is read. It used to start
// silently.
func TestDSNFileMustBePrivate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "postgres.dsn")
	const dsn = "postgres://licgate:s3cret@db.example/licgate"
	if err := os.WriteFile(p, []byte(dsn+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	_, err := postgres.ReadDSNFile(p)
	if !errors.Is(err, secretfile.ErrExposed) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("0644: %v", err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := postgres.ReadDSNFile(p); err != nil || got != dsn {
		t.Fatalf("0600: %q %v", got, err)
	}
	if err := os.WriteFile(p, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.ReadDSNFile(p); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("empty: %v", err)
	}
	if _, err := postgres.ReadDSNFile("/dev/zero"); err == nil || !strings.Contains(err.Error(), "/dev/zero") {
		t.Fatalf("/dev/zero: %v", err)
	}
}
