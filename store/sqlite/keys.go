package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/licgate/licgate/store"
)

// canonicalKey decodes s leniently (whitespace anywhere ignored, padding
// optional) and re-encodes it canonically; ok is false when s is not a
// 32-byte key even then.
func canonicalKey(s string) (string, bool) {
	clean := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
	b, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(clean, "="))
	}
	if err != nil || len(b) != store.KeyLen {
		return "", false
	}
	return base64.StdEncoding.EncodeToString(b), true
}

// canonicaliseKeys is migration 7: it rewrites every stored public key to
// canonical form. An active device whose key does not decode to 32 bytes
// (it could never complete a handshake) or that becomes a duplicate of
// another active device's key is revoked, not refused: the gateway must
// still start for everyone else. Each rewrite and revocation is recorded
// as an audit event (actor "licgate", action "device.key-canonicalised"
// or "device.revoke"). Rows whose key does not decode at all are
// revoked and keep the key they had: they are history.
func canonicaliseKeys(ctx context.Context, tx *sql.Tx, now time.Time) error {
	type dev struct {
		id         int64
		user, name string
		key        string
		active     bool
	}
	rows, err := tx.QueryContext(ctx, `SELECT d.id, u.name, d.name, d.public_key, d.revoked_at IS NULL
		FROM devices d JOIN users u ON u.id = d.user_id ORDER BY d.id`)
	if err != nil {
		return err
	}
	var devs []dev
	for rows.Next() {
		var d dev
		if err := rows.Scan(&d.id, &d.user, &d.name, &d.key, &d.active); err != nil {
			rows.Close()
			return err
		}
		devs = append(devs, d)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	// Active devices whose key is already canonical keep it; the others
	// claim their canonical key in id order, or are revoked.
	taken := map[string]bool{}
	for _, d := range devs {
		if d.active && store.CheckKey(d.key) == nil {
			taken[d.key] = true
		}
	}
	event := func(action, detail string) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO audit_events(at, actor, action, detail) VALUES (?, 'licgate', ?, ?)`,
			now.UnixMicro(), action, detail)
		return err
	}
	// Revocations first, so that no rewrite meets a stale unique index entry.
	var rewrite []dev
	for _, d := range devs {
		if store.CheckKey(d.key) == nil {
			continue
		}
		c, ok := canonicalKey(d.key)
		switch {
		case !d.active && !ok:
			continue
		case !d.active:
			d.key = c
			rewrite = append(rewrite, d)
		case !ok || taken[c]:
			why := "stored public key is not a WireGuard key"
			if ok {
				why = "stored public key is another active device's key written differently"
			}
			if _, err := tx.ExecContext(ctx, `UPDATE devices SET revoked_at = ? WHERE id = ?`, now.UnixMilli(), d.id); err != nil {
				return err
			}
			if ok { // a duplicate: revoked, and its key written canonically too
				d.key, d.active = c, false
				rewrite = append(rewrite, d)
			}
			if err := event("device.revoke", fmt.Sprintf("%s/%s: %s (%q); revoked by schema migration 7", d.user, d.name, why, d.key)); err != nil {
				return err
			}
		default:
			taken[c] = true
			d.key = c
			rewrite = append(rewrite, d)
		}
	}
	for _, d := range rewrite {
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET public_key = ? WHERE id = ?`, d.key, d.id); err != nil {
			return fmt.Errorf("device %s/%s: %w", d.user, d.name, err)
		}
		if d.active {
			if err := event("device.key-canonicalised", fmt.Sprintf("%s/%s: public key rewritten to %s", d.user, d.name, d.key)); err != nil {
				return err
			}
		}
	}
	return nil
}
