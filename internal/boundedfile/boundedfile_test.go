package boundedfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := Read(p, 3); err != nil || string(b) != "abc" {
		t.Errorf("at the limit: %q %v", b, err)
	}
	if _, err := Read(p, 2); !errors.Is(err, ErrTooBig) || !strings.Contains(err.Error(), p) {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := Read(dir, Config); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "missing"), Config); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

// TestHugeFileRefusedUnread: a 300 MB file (sparse: nothing is written)
// is refused from its size, at once; reading it would take seconds and
// 300 MB.
func TestHugeFileRefusedUnread(t *testing.T) {
	p := filepath.Join(t.TempDir(), "huge.yaml")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(300 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	start := time.Now()
	_, err = Read(p, Config)
	if !errors.Is(err, ErrTooBig) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "314572800 bytes") {
		t.Errorf("300 MB: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v", d)
	}
}

func TestDeviceRefused(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero on this system")
	}
	if _, err := Read("/dev/zero", Config); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "/dev/zero") {
		t.Errorf("/dev/zero: %v", err)
	}
}
