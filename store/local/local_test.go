package local_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/licgate/licgate/store/local"
)

// TestOpenUsesThisBuildsBackend: the state directory gets the file of
// the backend the build tag chooses (licgate.bolt with licgate_store_bolt,
// licgate.db otherwise), and nothing of the other.
func TestOpenUsesThisBuildsBackend(t *testing.T) {
	dir := t.TempDir()
	st, err := local.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	want := map[string]string{"sqlite": "licgate.db", "bolt": "licgate.bolt"}[local.Driver]
	if local.FileName != want {
		t.Fatalf("driver %s: FileName %q, want %q", local.Driver, local.FileName, want)
	}
	if _, err := os.Stat(filepath.Join(dir, local.FileName)); err != nil {
		t.Fatalf("open made no %s: %v", local.FileName, err)
	}
	other := map[string]string{"sqlite": "licgate.bolt", "bolt": "licgate.db"}[local.Driver]
	if _, err := os.Stat(filepath.Join(dir, other)); !os.IsNotExist(err) {
		t.Fatalf("open of %s touched %s: %v", local.Driver, other, err)
	}
}
