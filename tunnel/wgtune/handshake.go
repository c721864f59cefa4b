package wgtune

import (
	"crypto/hmac"
	"crypto/subtle"
	"hash"

	"golang.org/x/crypto/blake2s"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/curve25519"
)

// The parts of WireGuard's handshake (Noise IKpsk2) licgate needs to tell
// which peer a handshake initiation comes from before wireguard-go sees
// it: the responder decrypts the initiator's static public key with its
// own private key and the initiator's ephemeral key alone (one
// Curve25519 multiplication), as wireguard-go's ConsumeMessageInitiation
// does first.
const (
	InitiationSize    = 148 // type 4, sender 4, ephemeral 32, static 32+16, timestamp 12+16, mac1 16, mac2 16
	noiseConstruction = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
	wgIdentifier      = "WireGuard v1 zx2c4 Jason@zx2c4.com"
	wgLabelMAC1       = "mac1----"
)

var initialChainKey, initialHash [blake2s.Size]byte

func init() {
	initialChainKey = blake2s.Sum256([]byte(noiseConstruction))
	mixHash(&initialHash, &initialChainKey, []byte(wgIdentifier))
}

// InitiationReader reads the initiator's static key from handshake
// initiations addressed to one responder key.
type InitiationReader struct {
	priv    [32]byte
	hashPub [blake2s.Size]byte // HASH(InitialHash || responder public key)
	mac1Key [blake2s.Size]byte
}

// NewInitiationReader reads initiations to the key pair of priv.
func NewInitiationReader(priv [32]byte) *InitiationReader {
	pub, _ := curve25519.X25519(priv[:], curve25519.Basepoint)
	r := &InitiationReader{priv: priv}
	mixHash(&r.hashPub, &initialHash, pub[:])
	h, _ := blake2s.New256(nil)
	h.Write([]byte(wgLabelMAC1))
	h.Write(pub[:])
	h.Sum(r.mac1Key[:0])
	return r
}

// MAC1OK checks an initiation's first MAC (keyed with the responder's
// public key): cheap, and it keeps datagrams that are not handshakes with
// this device from costing a Curve25519 multiplication.
func (r *InitiationReader) MAC1OK(msg []byte) bool {
	if len(msg) != InitiationSize {
		return false
	}
	mac, _ := blake2s.New128(r.mac1Key[:])
	mac.Write(msg[:InitiationSize-32])
	var sum [blake2s.Size128]byte
	mac.Sum(sum[:0])
	return subtle.ConstantTimeCompare(sum[:], msg[InitiationSize-32:InitiationSize-16]) == 1
}

// Static returns the initiator's static public key, or false if the
// message does not decrypt.
func (r *InitiationReader) Static(msg []byte) ([32]byte, bool) {
	var k [32]byte
	if len(msg) != InitiationSize {
		return k, false
	}
	ephemeral := msg[8:40]
	sealed := msg[40:88]
	var hash, chainKey, key [blake2s.Size]byte
	mixHash(&hash, &r.hashPub, ephemeral)
	kdf1(&chainKey, initialChainKey[:], ephemeral)
	ss, err := curve25519.X25519(r.priv[:], ephemeral)
	if err != nil {
		return k, false // low-order ephemeral: wireguard-go drops it too
	}
	kdf2(&chainKey, &key, chainKey[:], ss)
	aead, _ := chacha20poly1305.New(key[:])
	var nonce [chacha20poly1305.NonceSize]byte
	if _, err := aead.Open(k[:0], nonce[:], sealed, hash[:]); err != nil {
		return [32]byte{}, false
	}
	return k, true
}

func mixHash(dst, h *[blake2s.Size]byte, data []byte) {
	d, _ := blake2s.New256(nil)
	d.Write(h[:])
	d.Write(data)
	d.Sum(dst[:0])
}

func newBlake2s() hash.Hash {
	h, _ := blake2s.New256(nil)
	return h
}

func hmac1(sum *[blake2s.Size]byte, key, in0 []byte) {
	m := hmac.New(newBlake2s, key)
	m.Write(in0)
	m.Sum(sum[:0])
}

func hmac2(sum *[blake2s.Size]byte, key, in0, in1 []byte) {
	m := hmac.New(newBlake2s, key)
	m.Write(in0)
	m.Write(in1)
	m.Sum(sum[:0])
}

func kdf1(t0 *[blake2s.Size]byte, key, input []byte) {
	hmac1(t0, key, input)
	hmac1(t0, t0[:], []byte{0x1})
}

func kdf2(t0, t1 *[blake2s.Size]byte, key, input []byte) {
	var prk [blake2s.Size]byte
	hmac1(&prk, key, input)
	hmac1(t0, prk[:], []byte{0x1})
	hmac2(t1, prk[:], t0[:], []byte{0x2})
	clear(prk[:])
}
