package store

import (
	"errors"
	"testing"
)

func TestValidEmail(t *testing.T) {
	for _, ok := range []string{"", "alice@example.com", "a.b+tag@sub.example.org", "o'brien@example.ie", "b@x", "jürgen@bücher.example"} {
		if err := ValidEmail(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"alice@example.com\x7f", "\"alice\"@example.com", "alice(x)@example.com", "alice@example..com",
		"alice@.example.com", "alice@example.com.", "\xff@example.com", "a@b,c@d"} {
		if err := ValidEmail(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", bad, err)
		}
	}
}
