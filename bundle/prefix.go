package bundle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Suffixes are the files a bundle writes after its prefix (Files).
var Suffixes = []string{".conf", ".png", "-linux.sh", "-macos.sh", "-windows.ps1"}

// CheckPrefix checks, before anything is made, that a bundle can be
// written at prefix (the CLI's --out): its last element is a usable
// WireGuard interface name, the directory takes new files and existing
// ones (overwritten) are writable.
func CheckPrefix(prefix string) error {
	name := filepath.Base(prefix)
	if strings.HasSuffix(prefix, string(filepath.Separator)) || !tunnelName.MatchString(name) {
		return fmt.Errorf("--out %s: %q becomes the WireGuard interface name on the home computer: "+
			"at most 15 of a-z A-Z 0-9 _ = + . - (e.g. --out %s)", prefix, name, filepath.Join(filepath.Dir(prefix), SuggestName(name)))
	}
	dir := filepath.Dir(prefix)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("--out %s: directory %s: %w", prefix, dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("--out %s: %s is not a directory", prefix, dir)
	}
	probe, err := os.CreateTemp(dir, ".licgate-out-*")
	if err != nil {
		return fmt.Errorf("--out %s: cannot write in %s: %w", prefix, dir, cause(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	for _, suf := range Suffixes {
		f, err := os.OpenFile(prefix+suf, os.O_WRONLY, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("--out %s: %s exists and cannot be overwritten: %w", prefix, prefix+suf, cause(err))
		}
		f.Close()
	}
	return nil
}

// SuggestName is name cut down to a usable interface name.
func SuggestName(name string) string {
	var b strings.Builder
	for _, r := range name {
		if b.Len() == 15 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("_=+.-", r):
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	if b.Len() == 0 {
		return "licgate"
	}
	return b.String()
}

// cause is the reason inside a path error, without the path.
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
