package store

import (
	"encoding/base64"
	"fmt"
)

// KeyLen is the length of a WireGuard public key in bytes.
const KeyLen = 32

// CheckKey reports whether s is a WireGuard public key in canonical form:
// standard padded base64 (44 characters) of exactly 32 bytes, nothing
// around it. Anything else (a trailing newline, CR/LF inside, URL-safe
// alphabet, missing padding) is ErrInvalid: two spellings of one key
// must never name two devices.
func CheckKey(s string) error {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != KeyLen || base64.StdEncoding.EncodeToString(b) != s {
		return fmt.Errorf("%w: public key %q: want 44 characters of base64 (32 bytes), as wg shows it", ErrInvalid, s)
	}
	return nil
}
