package secretfile

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/licgate/licgate/internal/boundedfile"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for text, want := range map[string]string{"s3cret\n": "s3cret", "s3cret\r\n": "s3cret", "s3cret": "s3cret", " pad \n": " pad "} {
		if got, err := Read(write("ok", text)); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", text, got, err, want)
		}
	}
	for _, text := range []string{"", "\n", "\r\n", "  \n"} {
		p := write("empty", text)
		if _, err := Read(p); !errors.Is(err, ErrEmpty) || !strings.Contains(err.Error(), p) {
			t.Errorf("%q: %v", text, err)
		}
	}
	if _, err := Read(write("big", strings.Repeat("x", maxSize+1))); err == nil || !errors.Is(err, boundedfile.ErrTooBig) {
		t.Errorf("big file: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

// TestReadDevice: /dev/zero (issue 23: admin.token_file: /dev/zero) is
// refused at once, never read.
func TestReadDevice(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero here")
	}
	if _, err := Read("/dev/zero"); err == nil || !strings.Contains(err.Error(), "/dev/zero") {
		t.Errorf("/dev/zero: %v", err)
	}
}

// TestReadPrivate: the same rule for every private file (the KEK, a DSN
// with a password): mode 0644 is refused, 0600 read.
func TestReadPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("permission bits are not the ACL on Windows")
	}
	p := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(p, []byte("postgres://licgate:pw@db/licgate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := ReadPrivate(p); err != nil || s != "postgres://licgate:pw@db/licgate" {
		t.Errorf("0600: %q %v", s, err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadPrivate(p); !errors.Is(err, ErrExposed) || !strings.Contains(err.Error(), p) {
			t.Errorf("%v: %v", mode, err)
		}
	}
}
