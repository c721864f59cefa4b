// Package secretfile reads a secret kept in a file of its own (an SMTP or
// LDAP password, an OIDC client secret), as the config's *_file settings
// name them.
package secretfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ErrEmpty: the file holds no secret. An empty password would make an
// LDAP bind unauthenticated, which servers accept without checking.
var ErrEmpty = errors.New("holds no secret")

// maxSize bounds the file: a secret is a line, not a device to read from.
const maxSize = 64 << 10

// Read is path's content without its final line break (LF or CRLF).
// Errors name the path.
func Read(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxSize {
		return "", fmt.Errorf("%s: over %d bytes: not a secret file", path, maxSize)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("%s %w", path, ErrEmpty)
	}
	return s, nil
}
