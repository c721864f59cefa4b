package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/store"
)

// The CLI checks its arguments before it asks the daemon for anything, so
// that a mistake never leaves a half-done change (a device created whose
// profile could not be written, say). The daemon checks them again.

// validName checks a user or device name (store.ValidName).
func validName(what, s string) error {
	if err := store.ValidName(s); err != nil {
		return fmt.Errorf("%s name %q: use lowercase letters, digits, '.', '_' or '-', starting with a letter or digit (at most 63)", what, s)
	}
	return nil
}

// validExpiry checks an expiry (adminapi.ParseExpiry; the daemon reads it
// in the office's time zone, which does not change whether it parses).
func validExpiry(s string) error {
	_, err := adminapi.ParseExpiry(s, time.Local)
	return err
}

// validSpan checks a positive duration (config.ParseDuration: 90s, 24h, 7d).
func validSpan(flagName, s string) error {
	d, err := config.ParseDuration(s)
	if err != nil || d <= 0 {
		return fmt.Errorf("%s %q: a duration like 30m, 24h or 7d", flagName, s)
	}
	return nil
}

// maxLinkTTL is the longest enrolment link the API accepts.
const maxLinkTTL = 30 * 24 * time.Hour

// validTTL reads --ttl (config.ParseDuration), at most 30 days.
func validTTL(s string) (time.Duration, error) {
	d, err := config.ParseDuration(s)
	if err != nil || d <= 0 || d > maxLinkTTL {
		return 0, fmt.Errorf("--ttl %q: a duration up to 30d, like 24h or 7d", s)
	}
	return d, nil
}

// validReportTime checks --from/--to (adminapi.ParseReportTime).
func validReportTime(flagName, s string) error {
	if _, err := adminapi.ParseReportTime(s, time.Now(), time.Local); err != nil {
		return fmt.Errorf("%s: %w", flagName, err)
	}
	return nil
}

// tunnelName is the rule for the interface name the bundle gets from
// --out: wg-quick's, as bundle.New enforces it.
var tunnelName = regexp.MustCompile(`^[a-zA-Z0-9_=+.-]{1,15}$`)

// bundleSuffixes are the files --out PREFIX writes (bundle.Files).
var bundleSuffixes = []string{".conf", ".png", "-linux.sh", "-macos.sh", "-windows.ps1"}

// checkOut checks that --out PREFIX can be written: its last element is
// a usable interface name, and the directory takes new files and the
// existing ones (overwritten) are writable.
func checkOut(prefix string) error {
	name := filepath.Base(prefix)
	if strings.HasSuffix(prefix, string(filepath.Separator)) || !tunnelName.MatchString(name) {
		return fmt.Errorf("--out %s: %q becomes the WireGuard interface name on the home computer: "+
			"at most 15 of a-z A-Z 0-9 _ = + . - (e.g. --out %s)", prefix, name, filepath.Join(filepath.Dir(prefix), suggestName(name)))
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
	for _, suf := range bundleSuffixes {
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

// suggestName is name cut down to a usable interface name.
func suggestName(name string) string {
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
