// Package secretfile reads a secret kept in a file of its own (an SMTP or
// LDAP password, an OIDC client secret, the admin token, a PostgreSQL
// DSN, a key-encryption key), as the config's *_file settings name them.
// Files are read bounded (internal/boundedfile): a device or FIFO named
// by mistake is refused, never read until memory runs out.
package secretfile

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/licgate/licgate/internal/boundedfile"
)

// ErrEmpty: the file holds no secret. An empty password would make an
// LDAP bind unauthenticated, which servers accept without checking.
var ErrEmpty = errors.New("holds no secret")

// ErrExposed: a file that must be private is readable by group or others.
var ErrExposed = errors.New("must not be readable by group or others (chmod 600)")

// maxSize bounds the file: a secret is a line, not a device to read from.
const maxSize = boundedfile.Secret

// Read is path's content without its final line break (LF or CRLF).
// Errors name the path.
func Read(path string) (string, error) {
	b, err := boundedfile.Read(path, maxSize)
	if err != nil {
		return "", err
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("%s %w", path, ErrEmpty)
	}
	return s, nil
}

// ReadPrivate is Read for a file that holds a key or a password to a
// shared system (the cluster's key-encryption key, a PostgreSQL DSN with
// its password): it is refused, unread, when group or others may read it
// (ErrExposed). On Windows the permission bits do not express the file's
// ACL and are not checked.
func ReadPrivate(path string) (string, error) {
	if err := CheckPrivate(path); err != nil {
		return "", err
	}
	return Read(path)
}

// CheckPrivate refuses path when its permission bits let group or others
// read (or write) it. Errors name the path and its mode.
func CheckPrivate(path string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s: mode %v: %w", path, fi.Mode().Perm(), ErrExposed)
	}
	return nil
}
