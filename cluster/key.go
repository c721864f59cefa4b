//go:build !licgate_omit_postgres

package cluster

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/licgate/licgate/internal/secretfile"
	"github.com/licgate/licgate/tunnel"
)

// ErrWrongKEK means the key-encryption key does not open the shared key
// stored in the database: this gateway's KEK file differs from the one
// the key was sealed with.
var ErrWrongKEK = errors.New("key-encryption key does not open the shared key")

// KEKSize is the size of a key-encryption key (AES-256).
const KEKSize = 32

// keyName is the cluster_secrets row of the gateway's private key.
const keyName = "wireguard-private-key"

// sealVersion prefixes sealed secrets: 1 = AES-256-GCM, 12-byte nonce.
const sealVersion = 1

// ReadKEK reads a key-encryption key file: 32 bytes as base64 (44
// characters) or hex (64), white space around ignored. The file must
// not be readable by group or others.
func ReadKEK(path string) ([]byte, error) {
	b, err := secretfile.ReadPrivate(path) // the rule every private file follows
	if err != nil {
		return nil, fmt.Errorf("cluster: kek: %w", err)
	}
	s := strings.TrimSpace(b)
	if k, err := base64.StdEncoding.DecodeString(s); err == nil && len(k) == KEKSize {
		return k, nil
	}
	if k, err := hex.DecodeString(s); err == nil && len(k) == KEKSize {
		return k, nil
	}
	return nil, fmt.Errorf("cluster: kek %s: want %d bytes as base64 or hex (generate with: head -c 32 /dev/urandom | base64)", path, KEKSize)
}

// WriteKEK creates a new random key-encryption key file (mode 0600); it
// refuses to overwrite one. Copy the file to every gateway.
func WriteKEK(path string) error {
	k := make([]byte, KEKSize)
	rand.Read(k)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("cluster: write kek: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cluster: write kek: %w", err)
	}
	return nil
}

func seal(kek, plain []byte) ([]byte, error) {
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	out := append([]byte{sealVersion}, nonce...)
	return gcm.Seal(out, nonce, plain, []byte("licgate "+keyName)), nil
}

func unseal(kek, sealed []byte) ([]byte, error) {
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(sealed) < 1+gcm.NonceSize()+gcm.Overhead() || sealed[0] != sealVersion {
		return nil, errors.New("sealed key is malformed")
	}
	nonce, ct := sealed[1:1+gcm.NonceSize()], sealed[1+gcm.NonceSize():]
	plain, err := gcm.Open(nil, nonce, ct, []byte("licgate "+keyName))
	if err != nil {
		return nil, ErrWrongKEK
	}
	return plain, nil
}

// SharedKey returns the cluster's WireGuard private key, creating it on
// first use (under an advisory lock: concurrent first calls on several
// gateways get one key). The key is stored sealed with the KEK read
// from kekFile; a KEK that does not open it is ErrWrongKEK, naming the
// file. The public key is stored in the clear, for diagnostics.
func (c *Cluster) SharedKey(ctx context.Context, kekFile string) (tunnel.Key, error) {
	return c.sharedKey(ctx, kekFile, nil)
}

// AdoptSharedKey makes own the cluster's shared key when there is none
// yet (a single gateway's existing key, so that its home profiles keep
// working after the move to a cluster), and returns the stored key. If
// the cluster already has a different key, that is an error naming both
// public keys.
func (c *Cluster) AdoptSharedKey(ctx context.Context, kekFile string, own tunnel.Key) (tunnel.Key, error) {
	k, err := c.sharedKey(ctx, kekFile, &own)
	if err != nil {
		return tunnel.Key{}, err
	}
	if k != own {
		return tunnel.Key{}, fmt.Errorf("cluster: adopt shared key: the cluster already has key %s, not this gateway's %s", k.PublicKey(), own.PublicKey())
	}
	return k, nil
}

func (c *Cluster) sharedKey(ctx context.Context, kekFile string, own *tunnel.Key) (tunnel.Key, error) {
	kek, err := ReadKEK(kekFile)
	if err != nil {
		return tunnel.Key{}, err
	}
	if err := c.ensureSchema(ctx); err != nil {
		return tunnel.Key{}, err
	}
	var key tunnel.Key
	err = pgx.BeginFunc(ctx, c.cfg.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
			return err
		}
		var sealed []byte
		var pub string
		err := tx.QueryRow(ctx, `SELECT sealed, public_key FROM cluster_secrets WHERE name = $1`, keyName).Scan(&sealed, &pub)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if own != nil {
				key = *own
			} else if key, err = tunnel.GenerateKey(); err != nil {
				return err
			}
			if sealed, err = seal(kek, key[:]); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `INSERT INTO cluster_secrets(name, public_key, sealed) VALUES ($1, $2, $3)`,
				keyName, key.PublicKey().String(), sealed)
			c.log.Info("cluster: created the shared WireGuard key")
			return err
		case err != nil:
			return err
		}
		plain, err := unseal(kek, sealed)
		if err != nil {
			return err
		}
		if len(plain) != len(key) {
			return errors.New("sealed key has the wrong length")
		}
		copy(key[:], plain)
		if key.PublicKey().String() != pub {
			return fmt.Errorf("opened key's public key %s is not the stored %s", key.PublicKey(), pub)
		}
		return nil
	})
	if errors.Is(err, ErrWrongKEK) {
		return tunnel.Key{}, fmt.Errorf("cluster: shared key: %w: %s is not the KEK file the key was sealed with (copy the first gateway's file to every gateway)", ErrWrongKEK, kekFile)
	}
	if err != nil {
		return tunnel.Key{}, fmt.Errorf("cluster: shared key: %w", err)
	}
	return key, nil
}
