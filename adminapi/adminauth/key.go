package adminauth

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"

	"github.com/licgate/licgate/internal/atomicfile"
)

// KeyFile is the key of admin sign-in in the state directory: it signs
// the sign-in flow's cookie and the admin sessions, so both survive a
// restart. Removing it ends every admin session.
const KeyFile = "admin-signin.key"

// StateKey returns a function that reads stateDir/KeyFile, making it (32
// random bytes, 0600) when it is missing or not 32 bytes long. It is
// called once, when the LAN listener starts with signin.admin set.
func StateKey(stateDir string) func() ([]byte, error) {
	return func() ([]byte, error) {
		file := filepath.Join(stateDir, KeyFile)
		key, err := os.ReadFile(file)
		if err == nil && len(key) == 32 {
			return key, nil
		}
		key = make([]byte, 32)
		rand.Read(key) // never fails (crypto/rand since Go 1.24)
		if err := atomicfile.Write(file, key, 0o600); err != nil {
			return nil, fmt.Errorf("adminauth: %s: %w", KeyFile, err)
		}
		return key, nil
	}
}
