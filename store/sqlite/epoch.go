package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"

	"github.com/licgate/licgate/store"
)

// NextSessionEpoch returns a number no earlier call on this database
// returned (1, 2, 3, ... in one transaction, durable before it returns).
// The gateway calls it once per start and numbers sessions
// epoch<<32 | counter, so session IDs never repeat across restarts.
// Epoch 0 is never returned (IDs of licgate before schema 6 had it).
// After 2^32-1 starts it fails with ErrExhausted.
func (s *Store) NextSessionEpoch(ctx context.Context) (uint32, error) {
	var v int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO counters(name, value) VALUES ('session_epoch', 1)
			ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value`).Scan(&v)
		if err == nil && (v < 1 || v > math.MaxUint32) {
			err = fmt.Errorf("%w: session epochs used up (%d)", store.ErrExhausted, v)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: next session epoch: %w", err)
	}
	return uint32(v), nil
}
