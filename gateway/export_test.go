package gateway

import (
	"context"
	"time"
)

// ExpireDueForTest runs the enforcement loop's expiry step now.
func ExpireDueForTest(g *Gateway) int { return g.expireDue(context.Background()) }

// SetRevokeFlushForTest sets how long a revoke or rekey waits for the FIN
// to cross the tunnel (a context cancel ends the wait early).
func SetRevokeFlushForTest(g *Gateway, d time.Duration) { g.revokeFlush = d }
