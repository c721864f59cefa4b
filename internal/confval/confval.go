// Package confval holds the value types of licgate's config file, shared
// by config and by the packages that own a block of it: Duration (Go's
// syntax plus whole days), Size (bytes with a unit), and FieldError, which
// a block's Validate returns so that config can name the file and line.
package confval

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a span of time in the config: Go's syntax ("90s", "5m",
// "1h30m") plus whole days ("400d"). The zero value means "not set": the
// field's documented default applies. It is the one duration parser of
// licgate's config.
type Duration struct {
	time.Duration
	set bool
}

// Dur is a set Duration of d (for configs built in Go).
func Dur(d time.Duration) Duration { return Duration{Duration: d, set: true} }

// IsSet reports whether the config gave a value (0 included).
func (d Duration) IsSet() bool { return d.set }

// Or is the value, or def if unset.
func (d Duration) Or(def time.Duration) time.Duration {
	if !d.set {
		return def
	}
	return d.Duration
}

var errDuration = errors.New("not a duration (like 30s, 5m, 1h30m or 2d)")

// ParseDuration reads a config duration; negative values are errors.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100*365 {
			return 0, fmt.Errorf("%q is %w", s, errDuration)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is %w", s, errDuration)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}

// UnmarshalYAML parses a scalar; errors carry the node's line, which the
// loader turns into file:line and the key's name.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a duration (like 30s or 5m) is expected here", n.Line)}}
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*d = Dur(v)
	return nil
}

// MarshalYAML writes the duration back in the config's syntax.
func (d Duration) MarshalYAML() (any, error) {
	if !d.set {
		return nil, nil
	}
	if d.Duration != 0 && d.Duration%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d.Duration/(24*time.Hour)), 10) + "d", nil
	}
	return d.Duration.String(), nil
}

// Size is a byte count in the config: a whole number with an optional
// unit (B, KiB, MiB, GiB, or KB, MB, GB in powers of ten). Zero is unset.
type Size int64

// ParseSize reads a config size.
func ParseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size (like 200MiB or 1GiB)", s)
	}
	return n * mult, nil
}

// UnmarshalYAML parses a scalar size.
func (z *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseSize(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a size (like 200MiB or 1GiB)", n.Line, n.Value)}}
	}
	*z = Size(v)
	return nil
}

// MarshalYAML writes the size in bytes, or in MiB when whole.
func (z Size) MarshalYAML() (any, error) {
	if z == 0 {
		return nil, nil
	}
	if z%(1<<20) == 0 {
		return strconv.FormatInt(int64(z>>20), 10) + "MiB", nil
	}
	return int64(z), nil
}

// String is the size as the config would write it.
func (z Size) String() string {
	if z%(1<<20) == 0 {
		return strconv.FormatInt(int64(z>>20), 10) + "MiB"
	}
	return strconv.FormatInt(int64(z), 10) + "B"
}

// Positive fills in def when d is unset and refuses zero or less.
func Positive(d *Duration, def time.Duration) error {
	if !d.IsSet() {
		*d = Dur(def)
		return nil
	}
	if d.Duration <= 0 {
		return fmt.Errorf("%s must be more than zero", d.Duration)
	}
	return nil
}

// FieldError is a bad value in a block of the config, named by its key
// relative to the block ("providers.0.zone"; empty for the block itself).
// config turns it into "file:line: block.key: msg".
type FieldError struct {
	Key string
	Msg string
}

func (e *FieldError) Error() string {
	if e.Key == "" {
		return e.Msg
	}
	return e.Key + ": " + e.Msg
}

// Errorf is a FieldError at key.
func Errorf(key, format string, args ...any) error {
	return &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)}
}
