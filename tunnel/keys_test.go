package tunnel

import (
	"crypto/ecdh"
	"encoding/base64"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestParsePublicKey(t *testing.T) {
	const good = "uIjjXTDyYvTxL0xFmm+5J9pjH2qJDhQZmPc6wfhL0lc="
	// The same 32 bytes with padding bits set: base64 decodes it, but it
	// is a second spelling.
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", good[42])
	paddingBits := good[:42] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[last|1]) + "="
	zero := Key{}.String()
	for _, tc := range []struct {
		name, in string
		want     error // nil: accepted, as good
	}{
		{"canonical", good, nil},
		{"surrounding white space", " \t" + good + "\r\n", nil},
		{"LF inside", good[:20] + "\n" + good[20:], ErrKeyNotCanonical},
		{"CRLF inside", good[:20] + "\r\n" + good[20:], ErrKeyNotCanonical},
		{"CR replacing padding", good[:43] + "\r", ErrKeyNotCanonical},
		{"space inside", good[:20] + " " + good[20:], ErrKeyNotCanonical},
		{"LF replacing a character", good[:20] + "\n" + good[21:], ErrKeyNotCanonical},
		{"no padding", good[:43], ErrKeyNotCanonical},
		{"URL alphabet", strings.NewReplacer("+", "-", "/", "_").Replace(good), ErrKeyNotCanonical},
		{"padding bits set", paddingBits, ErrKeyNotCanonical},
		{"too long", good + "A", ErrKeyNotCanonical},
		{"33 bytes", base64.StdEncoding.EncodeToString(make([]byte, 33)), ErrKeyNotCanonical},
		{"empty", "", ErrKeyNotCanonical},
		{"all zero", zero, ErrKeyLowOrder},
		{"one", Key{1}.String(), ErrKeyLowOrder},
		{"p+1 with top bit", func() string { k := pMinus(-1); k[31] |= 0x80; return k.String() }(), ErrKeyLowOrder},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParsePublicKey(tc.in)
			if tc.want == nil {
				if err != nil || k.String() != good {
					t.Fatalf("ParsePublicKey(%q) = %s, %v; want %s", tc.in, k, err, good)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParsePublicKey(%q) error %v, want %v", tc.in, err, tc.want)
			}
			if k != (Key{}) {
				t.Fatalf("a refused key came back as %s", k)
			}
			// ParseKey refuses the same spellings; low order is only a
			// public key's concern.
			if _, err := ParseKey(tc.in); errors.Is(tc.want, ErrKeyNotCanonical) != errors.Is(err, ErrKeyNotCanonical) {
				t.Fatalf("ParseKey(%q) error %v", tc.in, err)
			}
		})
	}
}

// TestLowOrderTable checks the table against X25519 itself: every entry
// (top bit clear or set) makes Diffie-Hellman give the all-zero value,
// which crypto/ecdh refuses, and an ordinary public key does not.
func TestLowOrderTable(t *testing.T) {
	sk := mustKey(t)
	priv, err := ecdh.X25519().NewPrivateKey(sk[:])
	if err != nil {
		t.Fatal(err)
	}
	dh := func(k Key) error {
		pub, err := ecdh.X25519().NewPublicKey(k[:])
		if err != nil {
			t.Fatal(err)
		}
		_, err = priv.ECDH(pub)
		return err
	}
	for _, lo := range lowOrder {
		for _, top := range []byte{0, 0x80} {
			k := lo
			k[31] |= top
			if dh(k) == nil {
				t.Errorf("%x: X25519 accepts it: not low order, wrong table entry", k)
			}
			if !IsLowOrder(k) {
				t.Errorf("%x: IsLowOrder false", k)
			}
			if _, err := ParsePublicKey(k.String()); !errors.Is(err, ErrKeyLowOrder) {
				t.Errorf("%x: ParsePublicKey error %v", k, err)
			}
		}
	}
	for i := 0; i < 16; i++ {
		k := mustKey(t).PublicKey()
		if dh(k) != nil || IsLowOrder(k) {
			t.Fatalf("%s: ordinary key taken for low order", k)
		}
		if got, err := ParsePublicKey(k.String()); err != nil || got != k {
			t.Fatalf("%s: %v", k, err)
		}
	}
}

func TestAddPeerRefusesLowOrder(t *testing.T) {
	d, err := NewNetstack(Config{PrivateKey: mustKey(t), Addresses: []netip.Addr{gw4}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, k := range []Key{{}, lowOrder[2]} {
		if err := d.AddPeer(Peer{PublicKey: k}); !errors.Is(err, ErrKeyLowOrder) {
			t.Errorf("AddPeer(%s): %v", k, err)
		}
	}
	if peers, _ := d.Peers(); len(peers) != 0 {
		t.Fatalf("low-order peers added: %v", peers)
	}
}
