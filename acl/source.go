package acl

import (
	"crypto/sha256"
	"encoding/hex"
)

// Source is a policy as text: what a cluster stores in its database so
// that every gateway enforces the same rules (config.Config.PolicySource).
type Source struct {
	// Name is where the text came from (a policy file, or "FILE (policy:)"
	// for an inline policy); error messages name it.
	Name string
	// Text is a policy document (the top level has rules, groups, ...).
	// Empty means no policy: every connection is denied.
	Text []byte
}

// Sum identifies the text (hex SHA-256), to tell whether two are the same.
func (p Source) Sum() string {
	h := sha256.Sum256(p.Text)
	return hex.EncodeToString(h[:])
}
