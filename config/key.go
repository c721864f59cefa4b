package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/licgate/licgate/internal/atomicfile"
	"github.com/licgate/licgate/internal/boundedfile"
	"github.com/licgate/licgate/tunnel"
)

// LoadOrCreateKey reads the gateway's WireGuard private key from path,
// creating it (0600, written atomically) on first start: the provisioning
// step of tunnel.private_key_file.
func LoadOrCreateKey(path string) (tunnel.Key, error) {
	data, err := boundedfile.Read(path, boundedfile.Secret)
	if err == nil {
		k, err := tunnel.ParseKey(strings.TrimSpace(string(data)))
		if err != nil {
			return k, fmt.Errorf("%w: tunnel.private_key_file %s: %w", ErrConfig, path, err)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return tunnel.Key{}, fmt.Errorf("%w: tunnel.private_key_file: %w", ErrConfig, err)
	}
	k, err := tunnel.GenerateKey()
	if err != nil {
		return k, fmt.Errorf("config: generate key: %w", err)
	}
	if err := atomicfile.Write(path, []byte(k.String()+"\n"), 0o600); err != nil {
		return k, fmt.Errorf("config: tunnel.private_key_file: %w", err)
	}
	return k, nil
}
