package tunnel

import (
	"fmt"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Key is a WireGuard Curve25519 key (private or public).
type Key = wgtypes.Key

// GenerateKey returns a new random private key.
func GenerateKey() (Key, error) {
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		return Key{}, fmt.Errorf("tunnel: generate key: %w", err)
	}
	return k, nil
}

// ParseKey parses a base64 key as written in wg-quick files and by `wg genkey`.
func ParseKey(s string) (Key, error) {
	k, err := wgtypes.ParseKey(s)
	if err != nil {
		return Key{}, fmt.Errorf("tunnel: parse key: %w", err)
	}
	return k, nil
}
