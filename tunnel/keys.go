package tunnel

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Key is a WireGuard Curve25519 key (private or public). Its String
// method is the canonical encoding: 44 characters of standard base64
// with padding, as `wg` prints it; ParseKey and ParsePublicKey accept
// only that encoding, so a key read from anywhere and written back is
// the same string.
type Key = wgtypes.Key

// Key parse errors. They are wrapped with the detail; match with
// errors.Is.
var (
	// ErrKeyNotCanonical: the text is not exactly the canonical 44
	// characters of a key (wrong length, characters base64 skips such
	// as CR or LF inside it, URL alphabet, no padding, non-zero padding
	// bits).
	ErrKeyNotCanonical = errors.New("not a canonical WireGuard key (44 characters of standard base64 ending in =)")
	// ErrKeyLowOrder: a public key that is a Curve25519 point of small
	// order (the all-zero key among them): every Diffie-Hellman with it
	// gives a value anyone can compute, so it identifies no one.
	ErrKeyLowOrder = errors.New("public key is a low-order Curve25519 point")
)

// keyTextLen is the length of a canonical key: base64 of 32 bytes.
const keyTextLen = 44

// GenerateKey returns a new random private key.
func GenerateKey() (Key, error) {
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		return Key{}, fmt.Errorf("tunnel: generate key: %w", err)
	}
	return k, nil
}

// ParseKey parses a private or public key as written in wg-quick files
// and by `wg genkey`: surrounding ASCII white space is trimmed, and what
// remains must be the canonical encoding (ErrKeyNotCanonical otherwise).
// Use ParsePublicKey for a key that will identify a peer.
func ParseKey(s string) (Key, error) {
	k, err := parseCanonical(s)
	if err != nil {
		return Key{}, fmt.Errorf("tunnel: parse key: %w", err)
	}
	return k, nil
}

// ParsePublicKey is ParseKey for a peer's public key: it also refuses
// the low-order points (ErrKeyLowOrder), the all-zero key among them.
// Every place that takes a public key from outside (configuration,
// enrollment form, API, store) should use it, and keep k.String(), not
// the text it was given.
func ParsePublicKey(s string) (Key, error) {
	k, err := parseCanonical(s)
	if err == nil && IsLowOrder(k) {
		err = fmt.Errorf("%w: %s", ErrKeyLowOrder, k)
	}
	if err != nil {
		return Key{}, fmt.Errorf("tunnel: parse public key: %w", err)
	}
	return k, nil
}

// parseCanonical decodes s and checks that encoding the key again gives
// back the same text: Go's base64 decoder skips CR and LF anywhere, so
// decoding alone would let key[:20]+"\n"+key[20:] through as a second
// spelling of the same key.
func parseCanonical(s string) (Key, error) {
	s = strings.Trim(s, " \t\r\n\v\f")
	if len(s) != keyTextLen {
		return Key{}, fmt.Errorf("%w: %d characters", ErrKeyNotCanonical, len(s))
	}
	var buf [keyTextLen / 4 * 3]byte // Decode may write up to 33 bytes
	var k Key
	n, err := base64.StdEncoding.Decode(buf[:], []byte(s))
	if err != nil || n != len(k) {
		return Key{}, fmt.Errorf("%w: %q", ErrKeyNotCanonical, s)
	}
	copy(k[:], buf[:n])
	if k.String() != s {
		return Key{}, fmt.Errorf("%w: %q (canonical: %s)", ErrKeyNotCanonical, s, k)
	}
	return k, nil
}

// lowOrder are the Curve25519 u-coordinates of small order, as
// little-endian bytes with the top bit clear (X25519 ignores that bit,
// RFC 7748 section 5, so a key is compared with it masked). The list is
// libsodium's (crypto_scalarmult/curve25519/ref10/x25519_ref10.c): 0, 1,
// the two points of order 8, p-1, and p and p+1 (non-reduced 0 and 1).
var lowOrder = [...]Key{
	{},     // 0 (order 4)
	{0x01}, // 1 (order 1)
	{0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
		0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00}, // order 8
	{0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b,
		0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57}, // order 8
	pMinus(1),  // p-1 (order 2)
	pMinus(0),  // p (= 0)
	pMinus(-1), // p+1 (= 1)
}

// pMinus returns p-d for p = 2^255-19, little-endian (d in -1..1).
func pMinus(d int) Key {
	var k Key
	for i := range k {
		k[i] = 0xff
	}
	k[0] = byte(0xed - d)
	k[31] = 0x7f
	return k
}

// IsLowOrder reports whether k is a Curve25519 point of small order (on
// the curve or its twist), whatever its top bit: such a public key is
// refused by ParsePublicKey.
func IsLowOrder(k Key) bool {
	k[31] &= 0x7f
	for _, lo := range lowOrder {
		if k == lo {
			return true
		}
	}
	return false
}
