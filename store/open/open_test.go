package open_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/local"
	"github.com/licgate/licgate/store/open"
)

// TestStoreByDriver: no driver (and "sqlite", config's default) opens
// the local backend in the state directory; an unknown driver is
// refused before anything is created; "postgres" reads its DSN file
// first and names it when it is missing (or, in a licgate_omit_postgres
// build, says the backend is not in the build, naming the file too).
func TestStoreByDriver(t *testing.T) {
	ctx := context.Background()
	for _, driver := range []string{"", "sqlite"} {
		dir := filepath.Join(t.TempDir(), "state")
		st, err := open.Store(ctx, open.Options{Driver: driver, StateDir: dir})
		if err != nil {
			t.Fatalf("driver %q: %v", driver, err)
		}
		st.Close()
		if _, err := os.Stat(filepath.Join(dir, local.FileName)); err != nil {
			t.Errorf("driver %q: no %s in the state directory: %v", driver, local.FileName, err)
		}
	}
	dir := filepath.Join(t.TempDir(), "state")
	if _, err := open.Store(ctx, open.Options{Driver: "mysql", StateDir: dir}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("driver mysql: %v, want ErrInvalid", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an unknown driver created the state directory: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "dsn")
	_, err := open.Store(ctx, open.Options{Driver: "postgres", DSNFile: missing})
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("postgres with no DSN file: %v, want an error naming %s", err, missing)
	}
}
