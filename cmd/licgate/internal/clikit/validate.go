package clikit

import (
	"fmt"
	"time"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/internal/confval"
	"github.com/licgate/licgate/store"
)

// The CLI checks its arguments before it asks the daemon for anything, so
// that a mistake never leaves a half-done change (a device created whose
// profile could not be written, say). The daemon checks them again.

// ValidName checks a user or device name (store.ValidName).
func ValidName(what, s string) error {
	if err := store.ValidName(s); err != nil {
		return fmt.Errorf("%s name %q: use lowercase letters, digits, '.', '_' or '-', starting with a letter or digit (at most 63)", what, s)
	}
	return nil
}

// ValidExpiry checks an expiry (adminapi.ParseExpiry; the daemon reads it
// in the office's time zone, which does not change whether it parses).
func ValidExpiry(s string) error {
	_, err := adminapi.ParseExpiry(s, time.Local)
	return err
}

// ValidSpan checks a positive duration (confval.ParseDuration: 90s, 24h, 7d).
func ValidSpan(flagName, s string) error {
	d, err := confval.ParseDuration(s)
	if err != nil || d <= 0 {
		return fmt.Errorf("%s %q: a duration like 30m, 24h or 7d", flagName, s)
	}
	return nil
}

// MaxLinkTTL is the longest enrolment link the API accepts.
const MaxLinkTTL = 30 * 24 * time.Hour

// ValidTTL reads --ttl (confval.ParseDuration), at most 30 days.
func ValidTTL(s string) (time.Duration, error) {
	d, err := confval.ParseDuration(s)
	if err != nil || d <= 0 || d > MaxLinkTTL {
		return 0, fmt.Errorf("--ttl %q: a duration up to 30d, like 24h or 7d", s)
	}
	return d, nil
}

// ValidReportTime checks --from/--to (adminapi.ParseReportTime).
func ValidReportTime(flagName, s string) error {
	if _, err := adminapi.ParseReportTime(s, time.Now(), time.Local); err != nil {
		return fmt.Errorf("%s: %w", flagName, err)
	}
	return nil
}
