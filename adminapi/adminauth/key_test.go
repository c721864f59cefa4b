package adminauth

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestStateKey: made once with mode 0600, then the same key after a
// "restart"; a short file is replaced.
func TestStateKey(t *testing.T) {
	dir := t.TempDir()
	k1, err := StateKey(dir)()
	if err != nil || len(k1) != 32 {
		t.Fatalf("key %d bytes, %v", len(k1), err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	if k2, err := StateKey(dir)(); err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second read differs: %v", err)
	}
	os.WriteFile(filepath.Join(dir, KeyFile), []byte("short"), 0o600)
	if k3, err := StateKey(dir)(); err != nil || len(k3) != 32 || bytes.Equal(k3, k1) {
		t.Fatalf("short key not replaced: %d %v", len(k3), err)
	}
}
